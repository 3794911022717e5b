"""CSV files saved by Excel in the code page of the computer: read in the one that makes words.

Russian Excel writes Windows-1251, Western Excel Windows-1252, Polish Windows-1250; Linux
exports are sometimes KOI8-R. Each file here is real bytes in that code page, most of it
numbers, as tables are: the header and a few categories are all there is to judge by.
"""

from __future__ import annotations

import numpy as np
import pytest

from trainer.tables.charsets import decode_legacy
from trainer.tables.dataset import read_dataset, read_table

X = [0.5, 1.25, -2.0, 3.0, 4.75, 5.0, 6.5, 7.0, 8.25, 9.0, 10.5, 1e3]

TABLES = {
    "russian_header": ("x;Цена\n" + "".join(f"{i};{i}\n" for i in range(12)), "cp1251"),
    "russian_flats": (
        "Район;Площадь, м2;Цена, руб.\n"
        + "".join(f"{['Центр', 'Север'][i % 2]};{40 + i},5;{i * 1000}\n" for i in range(12)),
        "cp1251",
    ),
    "ukrainian": ("Місто;Ціна\n" + "".join(f"Київ;{i}\nЛьвів;{i}\n" for i in range(6)), "cp1251"),
    "koi8": ("Город;Цена\n" + "".join(f"Москва;{i}\n" for i in range(12)), "koi8-r"),
    "euro_sign": ("x;y;€\n" + "".join(f"{a!r};{a!r};1\n" for a in X), "cp1252"),
    "french": ("x;y;température\n" + "".join(f"{a!r};{a!r};é\n" for a in X), "latin-1"),
    "german": ("Straße;Größe;Preis\n" + "".join(f"Haupt;{i};{i}\n" for i in range(12)), "cp1252"),
    "spanish": ("Año;Precio\n" + "".join(f"{2000 + i};{i}\n" for i in range(12)), "cp1252"),
    "polish": (
        "Miasto;Cena\n" + "".join(f"Łódź;{i}\nKraków;{i}\n" for i in range(6)),
        "cp1250",
    ),
    "greek": ("Πόλη;Τιμή\n" + "".join(f"Αθήνα;{i}\n" for i in range(12)), "cp1253"),
    "degrees": ("x;Temp °C\n" + "".join(f"{i};{i}\n" for i in range(12)), "cp1252"),
}


@pytest.mark.parametrize("name", sorted(TABLES))
def test_a_code_page_file_reads_as_it_was_written(name: str) -> None:
    text, code_page = TABLES[name]
    data = text.encode(code_page)
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")  # the case this is about
    assert decode_legacy(data) == text
    table = read_table(data)
    assert table.names == text.splitlines()[0].split(";")


def test_a_windows_1251_table_trains_with_its_cyrillic_names_and_categories() -> None:
    text, code_page = TABLES["russian_flats"]
    dataset = read_dataset(text.encode(code_page))
    assert dataset.input_names == ["Район", "Площадь, м2"]
    assert dataset.target_name == "Цена, руб."
    assert dataset.feature_names[:2] == ["Район=Центр", "Район=Север"]
    np.testing.assert_array_equal(dataset.features[:2, 2], [40.5, 41.5])


def test_utf8_and_utf16_are_read_without_guessing() -> None:
    text = "Город;Цена\n" + "".join(f"Москва;{i}\n" for i in range(12))
    for data in (text.encode(), b"\xef\xbb\xbf" + text.encode(), text.encode("utf-16")):
        assert read_table(data).names == ["Город", "Цена"]


def test_a_long_file_is_judged_by_a_sample() -> None:
    text = "Город;Площадь;Цена\n" + "".join(
        f"Москва{i % 50};{i},5;{i * 3}\n" for i in range(200_000)
    )
    data = text.encode("cp1251")
    assert decode_legacy(data)[:30] == text[:30]
