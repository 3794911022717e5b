"""Service logs: structured lines with job ids, and the bot token never written."""

from __future__ import annotations

import json
import logging

import pytest

from trainbot import logs

TOKEN = "123456789:AAsecret-token-never-logged"


@pytest.fixture(autouse=True)
def restore_logging() -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_the_token_is_redacted_from_messages_arguments_and_tracebacks(
    capsys: pytest.CaptureFixture[str],
) -> None:
    logs.configure("DEBUG", "text", secrets=[TOKEN])
    log = logging.getLogger("telegram.ext")
    log.warning("POST https://api.telegram.org/bot%s/getUpdates failed", TOKEN)
    try:
        raise RuntimeError(f"bad url https://api.telegram.org/bot{TOKEN}/sendMessage")
    except RuntimeError:
        log.exception("network trouble")
    err = capsys.readouterr().err
    assert TOKEN not in err
    assert err.count("bot***/") == 2 and "network trouble" in err


def test_httpx_request_lines_are_not_logged_at_info(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure("INFO", "text", secrets=[TOKEN])
    logging.getLogger("httpx").info("HTTP Request: POST https://x/bot%s/getMe", TOKEN)
    assert capsys.readouterr().err == ""


def test_json_lines_carry_the_job_and_chat(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure("INFO", "json")
    logging.getLogger("trainer.worker").info("job %s done", 7, extra={"job_id": 7, "chat_id": -5})
    line = json.loads(capsys.readouterr().err)
    assert line["message"] == "job 7 done"
    assert (line["job_id"], line["chat_id"], line["level"]) == (7, -5, "INFO")


def test_text_lines_show_the_context(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure("INFO", "text")
    logging.getLogger("storage.queue").info("claimed", extra={"job_id": 3, "worker": "w1"})
    assert "claimed [job_id=3 worker=w1]" in capsys.readouterr().err


def test_json_lines_keep_their_fields_and_redact_tracebacks(
    capsys: pytest.CaptureFixture[str],
) -> None:
    logs.configure("INFO", "json", secrets=[TOKEN])
    try:
        raise RuntimeError(f"bad url https://api.telegram.org/bot{TOKEN}/sendMessage")
    except RuntimeError:
        logging.getLogger("bot.delivery").exception("send failed", extra={"worker": "w1"})
    err = capsys.readouterr().err
    line = json.loads(err)
    assert TOKEN not in err
    assert {"time", "level", "logger", "message", "exception", "worker"} <= set(line)
    assert (line["logger"], line["level"], line["worker"]) == ("bot.delivery", "ERROR", "w1")
    assert "bot***/sendMessage" in line["exception"] and line["time"].endswith("+00:00")
