"""A corpus of bad CSV uploads, each with a fragment of the sentence the user should get.

Use ``cases()`` in tests (``for name, data, fragment in cases()``); run this module to write the
files into a folder for trying them by hand: ``python tests/badcsv.py /tmp/badcsv``.
All cases are checked with the default ``Limits()``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NamedTuple


class BadCsv(NamedTuple):
    """One bad upload: a file name, its bytes, and text its error message must contain."""

    name: str
    data: bytes
    fragment: str


def _table(rows: list[tuple[str, str]], header: str = "x,y", sep: str = ",") -> bytes:
    lines = [header] + [sep.join(row) for row in rows]
    return ("\n".join(lines) + "\n").encode()


def _good_rows(n: int = 12) -> list[tuple[str, str]]:
    return [(str(i), f"{i * 1.5 + 2:g}") for i in range(n)]


def _with_cell(row_index: int, column: int, value: str, n: int = 12) -> bytes:
    """The good table with one cell replaced (row_index counts data rows from 0)."""
    rows = [list(row) for row in _good_rows(n)]
    rows[row_index][column] = value
    return _table([(a, b) for a, b in rows])


def cases() -> list[BadCsv]:
    """Every bad upload in the corpus."""
    good = _good_rows()
    out = [
        # Nothing there.
        BadCsv("empty.csv", b"", "The file is empty."),
        BadCsv("whitespace.csv", b"  \n\r\n\t\n", "The file is empty."),
        BadCsv("header_only.csv", b"x,y\n", "has a header but no rows"),
        BadCsv("header_only_crlf.csv", b"x,y\r\n\r\n\r\n", "has a header but no rows"),
        # Not text, or not a CSV.
        BadCsv("nul_bytes.bin", bytes(range(256)) * 8, "binary file"),
        BadCsv("noise.bin", bytes((i * 37 + 11) % 255 + 1 for i in range(3000)), "binary file"),
        BadCsv("book.xlsx", b"PK\x03\x04\x14\x00\x06\x00" + b"\x00" * 64, "Excel"),
        BadCsv("old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64, "Excel"),
        BadCsv("report.pdf", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "PDF"),
        BadCsv("chart.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "image"),
        BadCsv("photo.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "image"),
        BadCsv("data.csv.gz", b"\x1f\x8b\x08\x00\x00\x00\x00\x00", "compressed"),
        BadCsv("odd_utf16.csv", b"\xff\xfex\x00,\x00y\x00\n", "binary file"),
        BadCsv("page.html", b"<!DOCTYPE html>\n<html><body>x,y</body></html>\n", "web page"),
        BadCsv("data.json", b'[{"x": 1, "y": 2}, {"x": 2, "y": 4}]\n', "JSON"),
        BadCsv(
            "prose.txt",
            b"Hello, I would like to train a model. Can you help me, please?\n"
            b"Thanks a lot.\nBest regards\n",
            "doesn't look like a table",
        ),
        BadCsv(
            "one_column.csv", ("x\n" + "\n".join(map(str, range(20))) + "\n").encode(), "one column"
        ),
        BadCsv(
            "one_column_no_header.csv",
            ("\n".join(map(str, range(20))) + "\n").encode(),
            "one column",
        ),
        BadCsv(
            "words.csv",
            b"name,city\nBob,Paris\nAnn,Rome\nEve,Oslo\nJo,Lima\n" * 3,
            "doesn't look like a table of numbers",
        ),
        # A value that is not a number, named by column and row (header is row 1).
        BadCsv(
            "word_in_y.csv",
            _with_cell(5, 1, "abc"),
            'Column "y" has a value that is not a number in row 7: "abc"',
        ),
        BadCsv(
            "word_in_x.csv",
            _with_cell(2, 0, "twelve"),
            'Column "x" has a value that is not a number in row 4',
        ),
        BadCsv("thousands.csv", _with_cell(3, 1, '"1,000"'), 'not a number in row 5: "1,000"'),
        BadCsv("date.csv", _with_cell(0, 0, "2024-01-05"), '"2024-01-05"'),
        BadCsv("percent.csv", _with_cell(8, 1, "50%"), 'row 10: "50%"'),
        BadCsv("currency.csv", _with_cell(1, 1, "$5"), '"$5"'),
        BadCsv(
            "formula.csv", _with_cell(4, 1, "=A1*2"), 'Column "y" has a value that is not a number'
        ),
        BadCsv(
            "footer.csv",
            _table(good) + b"Total: 500\n",
            'Column "x" has a value that is not a number in row 14: "Total: 500"',
        ),
        BadCsv(
            "semicolon_word.csv",
            _table([(a, "n/v" if a == "3" else b.replace(".", ",")) for a, b in good], "x;y", ";"),
            'Column "y" has a value that is not a number in row 5',
        ),
        BadCsv(
            "text_feature.csv",
            b"a,b,y\n"
            + b"".join(f"{i},{'low' if i % 2 else 'high'},{i}\n".encode() for i in range(12)),
            'Column "b"',
        ),
        BadCsv(
            "latin1_header.csv",
            "température;ventes\n1,5;x\n".encode("latin-1") + b"2;3\n" * 11,
            'Column "ventes"',
        ),
        # Missing or infinite values, counted.
        BadCsv(
            "nan.csv",
            _table([(a, "nan" if int(a) % 4 == 0 else b) for a, b in good]),
            "3 rows have a missing",
        ),
        BadCsv(
            "empty_cell.csv",
            _with_cell(6, 1, ""),
            "1 row has a missing or infinite value (the first is row 8)",
        ),
        BadCsv("inf.csv", _with_cell(2, 0, "inf"), "infinite"),
        BadCsv("overflow.csv", _with_cell(2, 1, "1e999"), "infinite"),
        BadCsv(
            "short_row.csv",
            _table(good[:5]) + b"5\n" + _table(good[6:], header="")[1:],
            "1 row has a missing or infinite value (the first is row 7)",
        ),
        BadCsv("na_target.csv", _table([(a, "NA") for a, _ in good]), "12 rows have a missing"),
        # Too small, too big, wrong shape.
        BadCsv("few_rows.csv", _table(good[:5]), "only 5 rows of data; I need at least 10"),
        BadCsv("nine_rows.csv", _table(good[:9]), "only 9 rows"),
        BadCsv("one_row.csv", b"x,y\n1,2\n", "only 1 row of data"),
        BadCsv(
            "constant_y.csv", _table([(a, "3") for a, _ in good]), 'Every value in column "y" is 3'
        ),
        BadCsv("duplicate_names.csv", b"x,x,y\n" + b"1,2,3\n" * 12, 'Two columns are named "x"'),
        BadCsv(
            "duplicate_case.csv", b"Temp,temp,y\n" + b"1,2,3\n" * 12, 'Two columns are named "temp"'
        ),
        BadCsv(
            "wide.csv",
            (",".join(f"c{i}" for i in range(51)) + "\n" + ("1," * 50 + "1\n") * 12).encode(),
            "51 columns; the limit is 50",
        ),
        BadCsv(
            "extra_field.csv",
            b"x,y\n1,2\n3,4,5\n" + b"6,7\n" * 10,
            "Row 3 has 3 values but the rows above it have 2",
        ),
        BadCsv("unclosed_quote.csv", b'x,y\n1,2\n"3,4\n5,6\n7,8\n', "never closed"),
        BadCsv("mixed_delimiters.csv", b"x,y\n" + b"1;2\n" * 12, "Row 2 has 2 values"),
        BadCsv(
            "too_many_rows.csv",
            b"x,y\n" + b"1,2\n" * 1_000_001,
            "more rows than the limit of 1,000,000",
        ),
        BadCsv("too_big.csv", b"x,y\n" + b"1,2\n" * 2_600_000, "over the 10.0 MB limit"),
    ]
    return out


def write_corpus(folder: Path) -> list[Path]:
    """Write every case into ``folder`` (for manual testing) and return the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for case in cases():
        path = folder / case.name
        path.write_bytes(case.data)
        paths.append(path)
    return paths


if __name__ == "__main__":
    for written in write_corpus(Path(sys.argv[1] if len(sys.argv) > 1 else "badcsv")):
        print(written)
