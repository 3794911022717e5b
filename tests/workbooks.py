"""Workbooks and zip files that tests write: real .xlsx files made with openpyxl, and bad ones."""

from __future__ import annotations

import functools
import gzip
import io
import zipfile
from collections.abc import Sequence
from typing import Any

import openpyxl

BOMB_MEGABYTES = 120  # over the default Limits.max_unzipped_bytes of 100 MB


def xlsx(
    rows: Sequence[Sequence[Any]], *, sheets: dict[str, Sequence[Sequence[Any]]] | None = None
) -> bytes:
    """A real workbook: ``rows`` on the first sheet ("Data"), then any further named sheets."""
    workbook = openpyxl.Workbook()
    first = workbook.active
    first.title = "Data"
    for row in rows:
        first.append(list(row))
    for title, more in (sheets or {}).items():
        sheet = workbook.create_sheet(title)
        for row in more:
            sheet.append(list(row))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


@functools.cache
def zip_bomb() -> bytes:
    """About 120 kB that would unpack to 120 MB: a sheet of zeros inside a workbook's layout."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
        with archive.open("xl/worksheets/sheet1.xml", "w") as member:
            chunk = b"\0" * (1 << 20)
            for _ in range(BOMB_MEGABYTES):
                member.write(chunk)
    return buffer.getvalue()


@functools.cache
def lying_zip_bomb() -> bytes:
    """A workbook whose sheet claims 100 bytes but inflates to megabytes: the listing lies."""
    real = xlsx([["x", "y"], *[[i, 2 * i] for i in range(12)]])
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(real)) as source,
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive,
    ):
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                data = data + b" " * 5_000_000
            archive.writestr(info.filename, data)
    patched = bytearray(buffer.getvalue())
    name = b"xl/worksheets/sheet1.xml"
    # Rewrite the uncompressed size in the local header and the central directory to 100.
    for signature, size_offset, name_offset in ((b"PK\x03\x04", 22, 30), (b"PK\x01\x02", 24, 46)):
        start = 0
        while (start := patched.find(signature, start)) != -1:
            if patched[start + name_offset : start + name_offset + len(name)] == name:
                patched[start + size_offset : start + size_offset + 4] = (100).to_bytes(4, "little")
            start += 4
    return bytes(patched)


def zip_of(members: dict[str, bytes]) -> bytes:
    """A zip archive of the given files (an .ods, a .docx, any zip)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@functools.cache
def gz_bomb() -> bytes:
    """About 120 kB of gzip that would inflate to 120 MB of a CSV's digits."""
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb") as packed:
        packed.write(b"x,y\n")
        chunk = b"1,2\n" * (1 << 18)
        for _ in range(BOMB_MEGABYTES):
            packed.write(chunk)
    return buffer.getvalue()


@functools.cache
def csv_zip_bomb() -> bytes:
    """A zip of one CSV that would unpack to 120 MB."""
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("data.csv", "w") as member,
    ):
        member.write(b"x,y\n")
        chunk = b"1,2\n" * (1 << 18)
        for _ in range(BOMB_MEGABYTES):
            member.write(chunk)
    return buffer.getvalue()


def gz_of(data: bytes) -> bytes:
    """``data`` compressed as a .gz file."""
    return gzip.compress(data)


def strings_table_workbook(n_strings: int, rows: int = 30) -> bytes:
    """A real .xlsx whose shared-strings table holds ``n_strings`` strings, of which the sheet (a
    small x, y table with a text column) uses a handful: what made openpyxl hold hundreds of
    megabytes before any row limit applied."""
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    relations = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    package = "http://schemas.openxmlformats.org/package/2006/relationships"
    cells = ['<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c>'
             '<c r="C1" t="s"><v>2</v></c></row>']  # fmt: skip
    for i in range(2, rows + 2):
        cells.append(
            f'<row r="{i}"><c r="A{i}" t="s"><v>{3 + i % 3}</v></c><c r="B{i}"><v>{i}</v></c>'
            f'<c r="C{i}"><v>{2 * i + i % 3}</v></c></row>'
        )
    sheet = f'<worksheet xmlns="{main}"><sheetData>{"".join(cells)}</sheetData></worksheet>'
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "[Content_Types].xml",
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Default Extension="rels" '
            'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Override PartName="/xl/workbook.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
            '<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>',
        )
        archive.writestr(
            "_rels/.rels",
            f'<Relationships xmlns="{package}"><Relationship Id="rId1" '
            f'Type="{relations}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        )
        archive.writestr(
            "xl/workbook.xml",
            f'<workbook xmlns="{main}" xmlns:r="{relations}"><sheets>'
            '<sheet name="Data" sheetId="1" r:id="rId1"/></sheets></workbook>',
        )
        archive.writestr(
            "xl/_rels/workbook.xml.rels",
            f'<Relationships xmlns="{package}">'
            f'<Relationship Id="rId1" Type="{relations}/worksheet" '
            'Target="worksheets/sheet1.xml"/>'
            f'<Relationship Id="rId2" Type="{relations}/sharedStrings" '
            'Target="sharedStrings.xml"/></Relationships>',
        )
        archive.writestr("xl/worksheets/sheet1.xml", sheet)
        with archive.open("xl/sharedStrings.xml", "w") as member:
            member.write(f'<sst xmlns="{main}" count="{n_strings}" uniqueCount="{n_strings}">'
                         "<si><t>kind</t></si><si><t>x</t></si><si><t>y</t></si>"
                         "<si><t>red</t></si><si><t>green</t></si><si><t>blue</t></si>"
                         .encode())  # fmt: skip
            for start in range(6, n_strings, 10_000):
                member.write(
                    "".join(
                        f"<si><t>label number {i:09d}</t></si>"
                        for i in range(start, min(start + 10_000, n_strings))
                    ).encode()
                )
            member.write(b"</sst>")
    return buffer.getvalue()
