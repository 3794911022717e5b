"""Workbooks read by calamine within bounds, and tables sent inside a .zip or a .gz.

The workbooks are real .xlsx files: made with openpyxl, or written part by part where a test
needs a shape openpyxl does not write (a shared-strings table of two million strings).
"""

from __future__ import annotations

import datetime as dt
import io
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import openpyxl
import pytest

from tests.workbooks import gz_of, strings_table_workbook, xlsx, zip_of
from trainer.errors import DatasetError
from trainer.limits import Limits
from trainer.tables.dataset import read_dataset, read_table

ROOT = Path(__file__).parents[1]
CSV = b"day,shop,sales\n" + b"".join(
    f"2025-01-{i + 1:02d},{'AB'[i % 2]},{10.5 * i + i % 2}\n".encode() for i in range(20)
)


def test_a_table_inside_a_zip_or_a_gz_reads_like_the_table() -> None:
    plain = read_dataset(CSV)
    workbook = xlsx([row.split(",") for row in CSV.decode().splitlines()])
    packed = {
        "zip": zip_of({"sales/data.csv": CSV, "__MACOSX/sales/._data.csv": b"\0", "README": b"hi"}),
        "gz": gz_of(CSV),
        "zip of xlsx": zip_of({"book.xlsx": workbook}),
        "gz of xlsx": gz_of(workbook),
    }
    for name, data in packed.items():
        dataset = read_dataset(data)
        assert dataset.feature_names == plain.feature_names, name
        np.testing.assert_array_equal(dataset.target, plain.target)


def test_what_a_zip_should_hold_is_said() -> None:
    with pytest.raises(DatasetError, match=r"holds 2 tables \(a.csv, b.csv\); please send one"):
        read_dataset(zip_of({"a.csv": CSV, "b.csv": CSV}))
    with pytest.raises(DatasetError, match="holds no table"):
        read_dataset(zip_of({"notes.docx.txt.pdf": b"%PDF"}))
    with pytest.raises(DatasetError, match="packed twice"):
        read_dataset(gz_of(gz_of(CSV)))
    with pytest.raises(DatasetError, match="OpenDocument"):
        read_dataset(zip_of({"mimetype": b"application/vnd.oasis.opendocument.spreadsheet"}))
    with pytest.raises(DatasetError, match=r"unpacks to more than 10 kB"):
        read_dataset(gz_of(CSV * 100), limits=Limits(max_unzipped_bytes=10_000))


def test_calamine_reads_what_a_csv_export_would_hold() -> None:
    rows = [["day", "at", "flag", "n", "y"]] + [
        [dt.date(2025, 1, 1 + i), dt.datetime(2025, 1, 1, i, 30), i % 2 == 0, i, 2.5 * i]
        for i in range(12)
    ]
    table = read_table(xlsx(rows))
    assert table.names == ["day", "at", "flag", "n", "y"]
    assert list(table.cells.iloc[1]) == ["2025-01-02", "2025-01-01 01:30:00", "FALSE", "1", "2.5"]
    assert list(table.line_numbers[:2]) == [2, 3]


def with_stray_cell(row: int, column: int) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for values in [["x", "y"], *[[i, 2 * i] for i in range(12)]]:
        sheet.append(values)
    sheet.cell(row=row, column=column, value="note")
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def test_a_stray_cell_far_away_is_refused_before_calamine_reads_the_sheet() -> None:
    # calamine would ask for 512 GB here and abort the process: this test would not finish.
    with pytest.raises(DatasetError, match="more than 300 columns"):
        read_dataset(with_stray_cell(1_048_576, 16_384))  # XFD1048576
    with pytest.raises(DatasetError, match="reach from row 1 to row 1,000,000"):
        read_dataset(with_stray_cell(1_000_000, 20))
    # A stray cell not that far is only a blank stretch and an empty column.
    assert read_dataset(with_stray_cell(500, 5), y="y").n_rows == 12


MEASURE = """
import resource, sys
from tests.workbooks import strings_table_workbook
from trainer.tables.dataset import read_dataset
data = strings_table_workbook({n})
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
dataset = read_dataset(data)
assert dataset.n_rows == 30 and dataset.target_name == "y", dataset.input_names
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024)
"""


def test_a_huge_strings_table_costs_its_size_not_a_python_object_per_string() -> None:
    n = 2_000_000
    data = strings_table_workbook(n)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        unpacked = sum(member.file_size for member in archive.infolist())
    assert len(data) < 6_000_000 and unpacked > 70_000_000
    run = subprocess.run(
        [sys.executable, "-c", MEASURE.format(n=n)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    grown = int(run.stdout.strip())
    # openpyxl grew by 338 MB (and took 20 s) on this file before reading a row.
    assert grown < 250_000_000, grown
