"""Configuration is read from the environment and every wrong value is named."""

from __future__ import annotations

from pathlib import Path

import pytest
from telegram.constants import FileSizeLimit

from trainbot.settings import TELEGRAM_DOWNLOAD_BYTES, ConfigError, Settings
from trainer.limits import Limits


def test_defaults_need_nothing_but_the_token_for_the_bot(tmp_path: Path) -> None:
    settings = Settings.from_env({}, env_file=None)
    assert settings.database_url == "sqlite:///trainbot.sqlite3"
    assert settings.telegram_api_base_url == "https://api.telegram.org/bot"
    assert not settings.allowlist_enabled
    with pytest.raises(ConfigError, match="TELEGRAM_BOT_TOKEN is not set"):
        settings.require_token()


def problems_of(env: dict[str, str]) -> list[str]:
    """The lines of the ConfigError that reading `env` raises."""
    with pytest.raises(ConfigError) as error:
        Settings.from_env(env, env_file=None)
    return error.value.problems


def test_every_wrong_value_gets_its_own_line() -> None:
    problems = problems_of(
        {
            "TRAINBOT_ALLOWED_USERS": "12,abc",
            "KERAS_BACKEND": "theano",
            "TRAINBOT_LEASE_SECONDS": "-1",
            "TELEGRAM_API_BASE_URL": "ftp://x",
            "TRAINBOT_MAX_UPLOAD_BYTES": "lots",
        }
    )
    assert len(problems) == 5
    assert any(p.startswith("TRAINBOT_ALLOWED_USERS=") for p in problems)
    assert any("KERAS_BACKEND='theano'" in p and "tensorflow, jax" in p for p in problems)
    assert any("TRAINBOT_LEASE_SECONDS" in p and "from 1.0 to 3600.0" in p for p in problems)


def test_values_are_parsed(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("123:secret\n")
    settings = Settings.from_env(
        {
            "TELEGRAM_BOT_TOKEN_FILE": str(token_file),
            "TRAINBOT_ALLOWED_CHATS": "-100123, 42",
            "KERAS_BACKEND": "JAX",
            "TRAINBOT_MAX_EPOCHS": "100",
        },
        env_file=None,
    )
    assert settings.require_token() == "123:secret"
    assert settings.allowed_chats == frozenset({-100123, 42})
    assert settings.keras_backend == "jax"
    assert settings.limits.max_epochs == 100
    assert "secret" not in repr(settings)


def test_a_dotenv_file_fills_in_but_the_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text('# comment\nDATABASE_URL="sqlite:///from-file.db"\nKERAS_BACKEND=jax\n')
    settings = Settings.from_env({"KERAS_BACKEND": "tensorflow"}, env_file=env_file)
    assert settings.database_url == "sqlite:///from-file.db"
    assert settings.keras_backend == "tensorflow"


def test_an_unreadable_secret_file_a_bad_secret_and_nan_get_a_line_each(tmp_path: Path) -> None:
    problems = problems_of(
        {
            "TELEGRAM_BOT_TOKEN_FILE": str(tmp_path / "missing"),
            "TRAINBOT_WEBHOOK_URL": "https://bot.example/hook",
            "TRAINBOT_WEBHOOK_SECRET": "not allowed!",
            "TRAINBOT_JOB_TIMEOUT": "nan",
            "TRAINBOT_WEBHOOK_PORT": "0",
        }
    )
    assert len(problems) == 4
    assert any("TELEGRAM_BOT_TOKEN_FILE=" in p and "cannot be read" in p for p in problems)
    assert "TRAINBOT_JOB_TIMEOUT='nan' is not valid: expected a number of at least 1.0." in problems
    assert any("TRAINBOT_WEBHOOK_PORT='0'" in p and "from 1 to 65535" in p for p in problems)
    assert all("not allowed!" not in p for p in problems)  # a secret is named, never shown


def test_blank_values_mean_the_default_and_the_token_wins_over_its_file(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("from-file")
    env_file = tmp_path / ".env"
    env_file.write_text(
        "export TRAINBOT_LOG_LEVEL='debug'\nTRAINBOT_WORKER_NAME=\nTRAINBOT_HEARTBEAT_FILE=  \n"
    )
    settings = Settings.from_env(
        {"TELEGRAM_BOT_TOKEN": "1:given", "TELEGRAM_BOT_TOKEN_FILE": str(token_file)},
        env_file=env_file,
    )
    assert settings.require_token() == "1:given"
    assert settings.log_level == "DEBUG"
    assert settings.worker_name is None
    assert settings.heartbeat_file == Path("trainbot-bot.heartbeat")


def test_settings_made_in_code_read_no_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRAINBOT_MAX_EPOCHS", "7")
    monkeypatch.setenv("DATABASE_URL", "sqlite:///elsewhere.db")
    settings = Settings(max_epochs=9)
    assert settings.limits.max_epochs == 9
    assert settings.database_url == "sqlite:///trainbot.sqlite3"
    assert Settings.from_env(env_file=None).limits.max_epochs == 7


def test_the_upload_cap_stops_at_what_telegram_lets_a_bot_download() -> None:
    assert TELEGRAM_DOWNLOAD_BYTES == FileSizeLimit.FILESIZE_DOWNLOAD
    # The trainer's own default (the command line's limit) is the same 20 MB.
    assert Limits().max_upload_bytes == TELEGRAM_DOWNLOAD_BYTES
    with pytest.raises(ConfigError, match="from 1024 to 20000000"):
        Settings.from_env({"TRAINBOT_MAX_UPLOAD_BYTES": "20000001"}, env_file=None)
