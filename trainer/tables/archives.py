"""A table inside a ``.zip`` or ``.gz``: unpacked within the same bounds as a workbook.

- A ``.gz`` is inflated to at most ``Limits.max_unzipped_bytes``; past that it is refused as a
  possible zip bomb, without inflating the rest.
- A ``.zip`` that is not itself a workbook must hold exactly one table (CSV, TSV, TXT, .xlsx or
  .xlsm; folders, hidden files and macOS's ``__MACOSX`` copies do not count); its listed size is
  checked first, and zipfile never inflates a member past it. A zip of several tables or of none
  gets a sentence saying what to do.
- What comes out is read like any upload, but is not unpacked again.

This module must stay free of Keras.
"""

from __future__ import annotations

import zipfile
import zlib
from pathlib import PurePosixPath

from trainer import words
from trainer.errors import DatasetError
from trainer.limits import Limits
from trainer.tables.workbook import is_workbook, is_zip, not_a_workbook, open_archive

GZIP_SIGNATURE = b"\x1f\x8b"
TABLE_SUFFIXES = frozenset({".csv", ".tsv", ".txt", ".xlsx", ".xlsm"})
_TWICE = "This file is packed twice; please send the table itself, or one .zip or .gz of it."


def unpack(data: bytes, limits: Limits) -> bytes:
    """The table inside a ``.zip`` or ``.gz`` (a workbook stays as it is), else ``data``."""
    if data.startswith(GZIP_SIGNATURE):
        inner = gunzip(data, limits)
        if inner.startswith(GZIP_SIGNATURE) or (is_zip(inner) and not _is_workbook(inner, limits)):
            raise DatasetError(_TWICE)
        return inner
    if not is_zip(data):
        return data
    archive = open_archive(data, limits)
    with archive:
        if is_workbook(archive):
            return data
        member = _the_table(archive)
        try:
            inner = archive.read(member)
        except RuntimeError:  # zipfile's word for a password
            raise DatasetError(
                "This zip is protected by a password; please send the table without one."
            ) from None
        except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, EOFError):
            raise DatasetError("I can't open this zip (it may be damaged).") from None
    if inner.startswith(GZIP_SIGNATURE) or (is_zip(inner) and not _is_workbook(inner, limits)):
        raise DatasetError(_TWICE)
    return inner


def gunzip(data: bytes, limits: Limits) -> bytes:
    """A gzip stream inflated, refused as soon as it passes the unpacked limit."""
    limit = limits.max_unzipped_bytes
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        inner = inflater.decompress(data, limit + 1)
    except zlib.error:
        raise DatasetError("I can't open this .gz file (it may be damaged).") from None
    if len(inner) > limit:
        raise DatasetError(
            f"This file unpacks to more than {words.size(limit)}, the most I open; please send "
            "fewer rows."
        )
    if not inflater.eof:
        raise DatasetError("I can't open this .gz file (it may be damaged).")
    return inner


def _the_table(archive: zipfile.ZipFile) -> zipfile.ZipInfo:
    members = [member for member in archive.infolist() if _counts(member)]
    tables = [m for m in members if PurePosixPath(m.filename).suffix.lower() in TABLE_SUFFIXES]
    if len(tables) == 1:
        return tables[0]
    if tables:
        names = ", ".join(PurePosixPath(m.filename).name for m in tables[:4])
        more = ", ..." if len(tables) > 4 else ""
        raise DatasetError(
            f"This zip holds {len(tables)} tables ({names}{more}); please send one table per zip, "
            "or the table itself."
        )
    other = not_a_workbook(archive)
    if "zip archive" not in other:  # an .ods, a Word file: say which
        raise DatasetError(other)
    raise DatasetError(
        "This zip holds no table (CSV or .xlsx); please send the table itself, or a zip of it."
    )


def _counts(member: zipfile.ZipInfo) -> bool:
    path = PurePosixPath(member.filename)
    hidden = any(part.startswith(".") or part == "__MACOSX" for part in path.parts)
    return not member.is_dir() and not hidden and member.file_size > 0


def _is_workbook(data: bytes, limits: Limits) -> bool:
    with open_archive(data, limits) as archive:
        return is_workbook(archive)
