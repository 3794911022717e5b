"""A corpus of bad uploads (CSVs, workbooks, zips, .gz files), each with a fragment of the
sentence the user should get.

Use ``cases()`` in tests (``for name, data, fragment in cases()``); run this module to write the
files into a folder for trying them by hand: ``python tests/badcsv.py /tmp/badcsv``.
All cases are checked with the default ``Limits()``. Files that look messy but train (text,
dates, gaps, "$1,200", a few words among numbers) are in ``tests/test_trainer_columns.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NamedTuple

try:  # works whether or not tests/ is a package
    from tests.workbooks import csv_zip_bomb, gz_bomb, lying_zip_bomb, xlsx, zip_bomb, zip_of
except ImportError:
    from workbooks import (  # type: ignore[no-redef]
        csv_zip_bomb,
        gz_bomb,
        lying_zip_bomb,
        xlsx,
        zip_bomb,
        zip_of,
    )


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
        BadCsv("data.csv.gz", b"\x1f\x8b\x08\x00\x00\x00\x00\x00", "can't open this .gz"),
        BadCsv("data.rar", b"Rar!\x1a\x07\x00" + b"\x00" * 32, "RAR archive"),
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
            "words_in_x.csv",
            _table([(f"w{i}" if i % 7 == 0 else str(i), f"{i * 1.5:g}") for i in range(40)]),
            'Column "x" is mostly numbers but has 6 cells that are not, like "w0" in row 2',
        ),
        BadCsv(
            "formula.csv", _with_cell(4, 1, "=A1*2"), 'Column "y" has a value that is not a number'
        ),
        BadCsv(
            "semicolon_word.csv",
            _table([(a, "n/v" if a == "3" else b.replace(".", ",")) for a, b in good], "x;y", ";"),
            'Column "y" has a value that is not a number in row 5',
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
            'Only 9 rows have a value in column "y" (3 empty); I need at least 10',
        ),
        BadCsv("inf.csv", _with_cell(2, 0, "inf"), 'Column "x" has an infinite value in row 4'),
        BadCsv("overflow.csv", _with_cell(2, 1, "1e999"), "infinite"),
        BadCsv(
            "na_target.csv", _table([(a, "NA") for a, _ in good]), "the value to predict, has no"
        ),
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
            (",".join(f"c{i}" for i in range(301)) + "\n" + ("1," * 300 + "1\n") * 12).encode(),
            "301 columns; the limit is 300",
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
        BadCsv("too_big.csv", b"x,y\n" + b"1,2\n" * 5_200_000, "over the 20.0 MB limit"),
        # Columns that are not numbers where numbers are needed, or give nothing to learn from.
        BadCsv(
            "text_target.csv",
            b"area,rooms,kind\n"
            + b"".join(f"{50 + i},{i % 4 + 1},kind{i}\n".encode() for i in range(25)),
            'Column "kind" holds text with 25 different values',
        ),
        BadCsv(
            "only_ids.csv",
            b"name,y\n" + b"".join(f"person{i},{i * 3}\n".encode() for i in range(12)),
            'I found no input column to learn from: "name" is an id.',
        ),
        BadCsv(
            "constant_input.csv",
            b"c,y\n" + b"".join(f"5,{i}\n".encode() for i in range(12)),
            '"c" is the same value in every row',
        ),
        BadCsv(
            "date_typos.csv",
            b"day,y\n"
            + b"".join(
                f"2024-02-{i % 28 + 1:02d},{i}\n".encode()
                if i % 7
                else f"2024-13-{i},{i}\n".encode()
                for i in range(40)
            ),
            'Column "day" is mostly dates but has 6 cells that are not, like "2024-13-0" in row 2',
        ),
        # Workbooks and other zip files.
        BadCsv("zip_bomb.xlsx", zip_bomb(), "unpacks to 125.8 MB, over the 100.0 MB"),
        BadCsv("lying_zip_bomb.xlsx", lying_zip_bomb(), "I can't open it"),
        BadCsv(
            "text_target.xlsx",
            xlsx([["a", "b"], *[[i, f"w{i % 3}"] for i in range(12)]]),
            'Class "w0" of column "b" has only 4 rows',
        ),
        BadCsv("one_column.xlsx", xlsx([["x"], *[[i] for i in range(12)]]), "only one column"),
        BadCsv("empty.xlsx", xlsx([]), "The sheet is empty."),
        BadCsv("header_only.xlsx", xlsx([["x", "y"]]), "has a header but no rows"),
        BadCsv(
            "wide.xlsx", xlsx([[f"c{i}" for i in range(301)], [1] * 301]), "more than 300 columns"
        ),
        BadCsv("few_rows.xlsx", xlsx([["x", "y"], *[[i, i * 2] for i in range(4)]]), "only 4 rows"),
        BadCsv(
            "sheet.ods",
            zip_of({"mimetype": b"application/vnd.oasis.opendocument.spreadsheet"}),
            "OpenDocument",
        ),
        BadCsv("letter.docx", zip_of({"word/document.xml": b"<w/>"}), "Word or PowerPoint"),
        BadCsv(
            "two_tables.zip",
            zip_of({"a.csv": b"x,y\n1,2\n", "b/c.xlsx": b"PK"}),
            "This zip holds 2 tables (a.csv, c.xlsx); please send one table per zip",
        ),
        BadCsv(
            "no_table.zip",
            zip_of({"readme.md": b"hi", "__MACOSX/._a.csv": b"x"}),
            "This zip holds no table (CSV or .xlsx)",
        ),
        BadCsv("tiny.zip", zip_of({"data.csv": b"x,y\n1,2\n"}), "only 1 row of data"),
        BadCsv("zip_in_zip.zip", zip_of({"a.zip": zip_of({"a.csv": b"x,y\n"})}), "no table"),
        BadCsv("gz_bomb.csv.gz", gz_bomb(), "unpacks to more than 100.0 MB"),
        BadCsv(
            "csv_bomb.zip", csv_zip_bomb(), "This archive unpacks to 125.8 MB, over the 100.0 MB"
        ),
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
