"""Configuration is read from the environment and every wrong value is named."""

from __future__ import annotations

from pathlib import Path

import pytest

from trainbot.settings import ConfigError, Settings


def test_defaults_need_nothing_but_the_token_for_the_bot(tmp_path: Path) -> None:
    settings = Settings.from_env({}, env_file=None)
    assert settings.database_url == "sqlite:///trainbot.sqlite3"
    assert settings.telegram_api_base_url == "https://api.telegram.org/bot"
    assert not settings.allowlist_enabled
    with pytest.raises(ConfigError, match="TELEGRAM_BOT_TOKEN is not set"):
        settings.require_token()


def test_every_wrong_value_gets_its_own_line() -> None:
    env = {
        "TRAINBOT_ALLOWED_USERS": "12,abc",
        "KERAS_BACKEND": "theano",
        "TRAINBOT_LEASE_SECONDS": "-1",
        "TELEGRAM_API_BASE_URL": "ftp://x",
        "TRAINBOT_MAX_UPLOAD_BYTES": "lots",
    }
    with pytest.raises(ConfigError) as error:
        Settings.from_env(env, env_file=None)
    problems = error.value.problems
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
