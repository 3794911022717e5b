"""Logging for the services: text or JSON lines, job ids carried along, secrets never written."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable

from pythonjsonlogger.json import JsonFormatter

# Fields that callers pass with `extra=` and that text lines show at their end.
CONTEXT_FIELDS = ("job_id", "chat_id", "worker")


class RedactSecrets(logging.Filter):
    """Replaces every secret in a record's final message (httpx logs URLs with the bot token)."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        for secret in self.secrets:
            message = message.replace(secret, "***")
        record.msg, record.args = message, None
        if record.exc_info and record.exc_text is None:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            for secret in self.secrets:
                record.exc_text = record.exc_text.replace(secret, "***")
            # Formatters render exc_info again when it is there: leave them the redacted text.
            record.exc_info = None
        return True


def json_formatter() -> logging.Formatter:
    """One JSON object a line (python-json-logger): time (UTC), level, logger, message, the
    exception's traceback, and whatever callers pass with `extra=` (job_id, chat_id, worker)."""
    return JsonFormatter(
        ["levelname", "name", "message"],
        rename_fields={"levelname": "level", "name": "logger", "exc_info": "exception"},
        timestamp="time",
    )


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s%(context)s")

    def format(self, record: logging.LogRecord) -> str:
        context = [f"{n}={getattr(record, n)}" for n in CONTEXT_FIELDS if hasattr(record, n)]
        record.context = (" [" + " ".join(context) + "]") if context else ""
        return super().format(record)


def configure(level: str = "INFO", fmt: str = "text", secrets: Iterable[str] = ()) -> None:
    """Send every log record to stderr in the chosen format, with secrets redacted."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(json_formatter() if fmt == "json" else TextFormatter())
    handler.addFilter(RedactSecrets(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request at INFO, and Telegram request URLs contain the token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    # Alembic narrates every plugin it loads at each start; migrations that run still show up
    # through `trainbot db upgrade`'s own line.
    logging.getLogger("alembic").setLevel(logging.WARNING)
