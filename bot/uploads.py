"""Taking in a table (CSV, .xlsx, or one of them in a .zip or .gz): the checks before
downloading it, the download, and a quick validation.

The order is the cheap-first one: nothing is downloaded that the size, type or the chat's quota
already rule out, and a file that downloads is parsed at once, in a bounded child process
(``bot.parse_pool``), so that an obvious problem comes back in seconds rather than after waiting
in the queue, and no file can stall the bot or grow its memory.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import PurePosixPath

from telegram import Document
from telegram.constants import FileSizeLimit
from telegram.error import BadRequest, NetworkError

from bot import replies, texts
from bot.context import BotContext
from bot.parse_pool import ParsePool, ReadFailure
from trainer.errors import DatasetError, PredictError
from trainer.limits import Limits
from trainer.tables.checks import (
    InputsTable,
    TrainingTable,
    check_inputs_table,
    check_training_table,
)
from trainer.tables.columns import ColumnPlan

log = logging.getLogger(__name__)

# A .zip or .gz holding one table is unpacked within bounds (trainer.tables.archives).
TABLE_EXTENSIONS = frozenset({".csv", ".tsv", ".txt", ".xlsx", ".xlsm", ".zip", ".gz"})
# Spreadsheets in formats not read here: refused with advice to save as .xlsx.
SPREADSHEET_EXTENSIONS = frozenset({".xls", ".ods", ".numbers"})
# Archives not opened here: refused with advice to unpack, or to send a .zip or .gz.
OTHER_ARCHIVES = frozenset({".rar", ".7z", ".tar", ".tgz", ".bz2", ".xz"})
# What phones and desktops report for CSV files (Windows says "ms-excel" for .csv too) and for
# Excel workbooks.
TABLE_MIME_TYPES = frozenset(
    {
        "text/csv",
        "text/plain",
        "text/tab-separated-values",
        "text/comma-separated-values",
        "application/csv",
        "application/vnd.ms-excel",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.ms-excel.sheet.macroenabled.12",
        "application/zip",
        "application/x-zip-compressed",
        "application/gzip",
        "application/x-gzip",
    }
)


# Telegram serves bots files of at most 20 MB through getFile, whatever we configure.
TELEGRAM_DOWNLOAD_LIMIT = int(FileSizeLimit.FILESIZE_DOWNLOAD)


class Refusal(Exception):
    """Why a request cannot go on, as the HTML sentence to send back."""


def looks_like_table(document: Document) -> bool:
    """A .csv/.tsv/.txt/.xlsx name, or no telling extension and a table's MIME type."""
    extension = PurePosixPath(document.file_name or "").suffix.lower()
    if extension:
        return extension in TABLE_EXTENSIONS
    return (document.mime_type or "").lower() in TABLE_MIME_TYPES


def check_document(document: Document, limits: Limits) -> None:
    """Refuse, before downloading, a file of the wrong type or size."""
    if not looks_like_table(document):
        extension = PurePosixPath(document.file_name or "").suffix.lower()
        if extension in SPREADSHEET_EXTENSIONS:
            raise Refusal(texts.SPREADSHEET)
        if extension in OTHER_ARCHIVES:
            raise Refusal(texts.other_archive(extension))
        if (document.mime_type or "").lower().startswith("image/"):
            raise Refusal(texts.PHOTO_OF_TABLE)
        raise Refusal(texts.not_csv(document.file_name))
    size = document.file_size
    if size is not None and size > TELEGRAM_DOWNLOAD_LIMIT:
        raise Refusal(texts.too_big_for_telegram(size, TELEGRAM_DOWNLOAD_LIMIT))
    if size is not None and size > limits.max_upload_bytes:
        raise Refusal(texts.too_big(size, limits.max_upload_bytes))


async def check_quota(context: BotContext, chat_id: int) -> None:
    """Refuse a new job while the chat has its maximum of unfinished ones."""
    unfinished = await context.db(context.store.records.count_unfinished_jobs, chat_id)
    if unfinished >= context.settings.max_unfinished_jobs_per_chat:
        raise Refusal(texts.quota_reached(unfinished))


async def fetch(context: BotContext, chat_id: int, document: Document) -> bytes:
    """Everything before the download (type, size, the chat's quota), then the download."""
    limits = context.settings.limits
    check_document(document, limits)
    await check_quota(context, chat_id)
    return await download(document, limits)


async def download(document: Document, limits: Limits) -> bytes:
    """The file's bytes; Refusal if Telegram will not hand it over or it is larger than said."""
    try:
        file = await replies.retrying(document.get_file)
        data = bytes(await replies.retrying(file.download_as_bytearray))
    except (BadRequest, NetworkError) as error:
        log.warning("downloading %s failed: %s", document.file_id, error)
        raise Refusal(texts.DOWNLOAD_FAILED) from error
    if len(data) > limits.max_upload_bytes:
        raise Refusal(texts.too_big(len(data), limits.max_upload_bytes))
    return data


async def read_training_csv(
    data: bytes,
    *,
    x: Sequence[str] | None,
    y: str | None,
    limits: Limits,
    pool: ParsePool,
    sheet: str | None = None,
    predict: Sequence[float] = (),
    task: str | None = None,
    preset: str = "default",
) -> TrainingTable:
    """Parse the table as the worker will (in a bounded child), and check that the values of
    ``predict=`` fit its inputs; Refusal with the reason if not."""
    try:
        return await pool.run(
            check_training_table, data, x=x, y=y, sheet=sheet, limits=limits, predict=predict,
            task=task, preset=preset,
        )  # fmt: skip
    except DatasetError as error:
        raise Refusal(texts.bad_csv(str(error))) from error
    except PredictError as error:
        raise Refusal(texts.bad_params(f"predict: {error}")) from error
    except ReadFailure as failure:
        raise Refusal(texts.read_failure(failure.kind, failure.seconds)) from failure


async def read_inputs_csv(
    data: bytes, plan: ColumnPlan, limits: Limits, pool: ParsePool
) -> InputsTable:
    """Check a table of inputs as the worker's predictor will read it; Refusal if not."""
    try:
        return await pool.run(check_inputs_table, data, plan, limits)
    except DatasetError as error:
        raise Refusal(texts.bad_csv(str(error))) from error
    except ReadFailure as failure:
        raise Refusal(texts.read_failure(failure.kind, failure.seconds)) from failure
