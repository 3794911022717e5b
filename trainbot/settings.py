"""Configuration from environment variables (and an optional `.env` file), validated at start."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from trainer.limits import Limits

T = TypeVar("T")

DEFAULT_DATABASE_URL = "sqlite:///trainbot.sqlite3"
DEFAULT_API_BASE_URL = "https://api.telegram.org/bot"
DEFAULT_API_FILE_URL = "https://api.telegram.org/file/bot"
KERAS_BACKENDS = ("tensorflow", "jax")
LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
# What Telegram allows in a webhook's secret_token.
WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")
DEFAULT_HEARTBEAT_FILE = "trainbot-bot.heartbeat"


class ConfigError(ValueError):
    """One or more settings are wrong; the message has one line per wrong value."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Settings:
    """Every setting of bot and worker; see `.env.example` for the variable of each."""

    telegram_bot_token: str | None = field(default=None, repr=False)
    database_url: str = DEFAULT_DATABASE_URL
    telegram_api_base_url: str = DEFAULT_API_BASE_URL
    telegram_api_file_url: str = DEFAULT_API_FILE_URL
    allowed_users: frozenset[int] = frozenset()
    allowed_chats: frozenset[int] = frozenset()
    keras_backend: str = "tensorflow"
    webhook_url: str | None = None
    webhook_listen: str = "0.0.0.0"
    webhook_port: int = 8443
    webhook_secret: str | None = field(default=None, repr=False)
    limits: Limits = field(default_factory=Limits)
    max_unfinished_jobs_per_chat: int = 3
    predict_limit: int = 10
    predict_window_seconds: float = 10.0
    delivery_attempts: int = 10
    heartbeat_file: Path = Path(DEFAULT_HEARTBEAT_FILE)
    job_max_attempts: int = 3
    job_timeout_seconds: float = 900.0
    lease_seconds: float = 30.0
    poll_interval: float = 0.1
    progress_interval: float = 2.0
    model_cache_size: int = 8
    train_wait_seconds: float = 300.0
    worker_name: str | None = None
    # Days `trainbot db prune` keeps each kind of row; 0 keeps it for ever.
    keep_datasets_days: float = 30.0
    keep_artifacts_days: float = 30.0
    keep_outbox_days: float = 7.0
    keep_jobs_days: float = 90.0
    log_level: str = "INFO"
    log_format: str = "text"

    @property
    def allowlist_enabled(self) -> bool:
        return bool(self.allowed_users or self.allowed_chats)

    def require_token(self) -> str:
        """The bot token, or a ConfigError saying how to provide one."""
        if not self.telegram_bot_token:
            raise ConfigError(
                [
                    "TELEGRAM_BOT_TOKEN is not set: get a token from @BotFather and export it "
                    "(or point TELEGRAM_BOT_TOKEN_FILE at a file holding it)."
                ]
            )
        return self.telegram_bot_token

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, env_file: Path | None = Path(".env")
    ) -> Settings:
        """Read and validate every setting; raise ConfigError listing each wrong value."""
        env = dict(read_env_file(env_file)) if env_file is not None else {}
        env.update(os.environ if environ is None else environ)
        reader = _Reader(env)
        token = reader.secret("TELEGRAM_BOT_TOKEN")
        limits_default = Limits()
        limits = Limits(
            max_upload_bytes=reader.integer(
                "TRAINBOT_MAX_UPLOAD_BYTES",
                limits_default.max_upload_bytes,
                low=1024,
                high=20_000_000,
            ),
            max_rows=reader.integer("TRAINBOT_MAX_ROWS", limits_default.max_rows, low=10),
            max_epochs=reader.integer("TRAINBOT_MAX_EPOCHS", limits_default.max_epochs, low=1),
        )
        webhook_url = reader.optional_url("TRAINBOT_WEBHOOK_URL")
        settings = cls(
            telegram_bot_token=token,
            database_url=reader.text("DATABASE_URL", DEFAULT_DATABASE_URL),
            telegram_api_base_url=reader.url("TELEGRAM_API_BASE_URL", DEFAULT_API_BASE_URL),
            telegram_api_file_url=reader.url("TELEGRAM_API_FILE_URL", DEFAULT_API_FILE_URL),
            allowed_users=reader.id_set("TRAINBOT_ALLOWED_USERS"),
            allowed_chats=reader.id_set("TRAINBOT_ALLOWED_CHATS"),
            keras_backend=reader.choice("KERAS_BACKEND", "tensorflow", KERAS_BACKENDS),
            webhook_url=webhook_url,
            webhook_listen=reader.text("TRAINBOT_WEBHOOK_LISTEN", "0.0.0.0"),
            webhook_port=reader.integer("TRAINBOT_WEBHOOK_PORT", 8443, low=1, high=65535),
            webhook_secret=reader.webhook_secret(webhook_url),
            limits=limits,
            max_unfinished_jobs_per_chat=reader.integer(
                "TRAINBOT_MAX_JOBS_PER_CHAT", 3, low=1, high=1000
            ),
            predict_limit=reader.integer("TRAINBOT_PREDICT_LIMIT", 10, low=1, high=100_000),
            predict_window_seconds=reader.number(
                "TRAINBOT_PREDICT_WINDOW", 10.0, low=0.1, high=86_400.0
            ),
            delivery_attempts=reader.integer("TRAINBOT_DELIVERY_ATTEMPTS", 10, low=1, high=100),
            heartbeat_file=Path(reader.text("TRAINBOT_HEARTBEAT_FILE", DEFAULT_HEARTBEAT_FILE)),
            job_max_attempts=reader.integer("TRAINBOT_JOB_MAX_ATTEMPTS", 3, low=1, high=100),
            job_timeout_seconds=reader.number("TRAINBOT_JOB_TIMEOUT", 900.0, low=1.0),
            lease_seconds=reader.number("TRAINBOT_LEASE_SECONDS", 30.0, low=1.0, high=3600.0),
            poll_interval=reader.number("TRAINBOT_POLL_INTERVAL", 0.1, low=0.01, high=60.0),
            progress_interval=reader.number("TRAINBOT_PROGRESS_INTERVAL", 2.0, low=0.1, high=600.0),
            model_cache_size=reader.integer("TRAINBOT_MODEL_CACHE_SIZE", 8, low=0, high=1000),
            train_wait_seconds=reader.number("TRAINBOT_TRAIN_WAIT", 300.0, low=1.0),
            worker_name=reader.text("TRAINBOT_WORKER_NAME", "") or None,
            keep_datasets_days=reader.number("TRAINBOT_KEEP_DATASETS_DAYS", 30.0, low=0.0),
            keep_artifacts_days=reader.number("TRAINBOT_KEEP_ARTIFACTS_DAYS", 30.0, low=0.0),
            keep_outbox_days=reader.number("TRAINBOT_KEEP_OUTBOX_DAYS", 7.0, low=0.0),
            keep_jobs_days=reader.number("TRAINBOT_KEEP_JOBS_DAYS", 90.0, low=0.0),
            log_level=reader.choice("TRAINBOT_LOG_LEVEL", "INFO", LOG_LEVELS, upper=True),
            log_format=reader.choice("TRAINBOT_LOG_FORMAT", "text", LOG_FORMATS),
        )
        reader.raise_if_problems()
        return settings


def read_env_file(path: Path | None) -> dict[str, str]:
    """KEY=VALUE lines of a `.env` file; the real environment wins over it."""
    if path is None or not path.is_file():
        return {}
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


class _Reader:
    """Reads typed values, collecting one message per wrong value rather than stopping early."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[str] = []

    def _get(self, name: str) -> str | None:
        value = self.env.get(name)
        if value is None or value.strip() == "":
            return None
        return value.strip()

    def _parse(self, name: str, default: T, parse: Callable[[str], T], expected: str) -> T:
        raw = self._get(name)
        if raw is None:
            return default
        try:
            return parse(raw)
        except ValueError:
            self.problems.append(f"{name}={raw!r} is not valid: expected {expected}.")
            return default

    def text(self, name: str, default: str) -> str:
        return self._get(name) or default

    def secret(self, name: str) -> str | None:
        """A secret from NAME, or from the file named by NAME_FILE (Docker/Kubernetes secrets)."""
        value = self._get(name)
        file_name = self._get(f"{name}_FILE")
        if value is None and file_name is not None:
            try:
                value = Path(file_name).read_text(encoding="utf-8").strip() or None
            except OSError as exc:
                self.problems.append(f"{name}_FILE={file_name!r} cannot be read: {exc.strerror}.")
        return value

    def webhook_secret(self, webhook_url: str | None) -> str | None:
        """TRAINBOT_WEBHOOK_SECRET; in webhook mode a random one when it is not set.

        Without a secret anyone who finds the webhook's address could post forged updates
        (user ids are not secret). A generated secret is new at every start, which is enough:
        the bot passes it to setWebhook each time it starts.
        """
        value = self.secret("TRAINBOT_WEBHOOK_SECRET")
        if value is not None and not WEBHOOK_SECRET.fullmatch(value):
            self.problems.append(
                "TRAINBOT_WEBHOOK_SECRET is not valid: Telegram allows 1 to 256 characters "
                "A-Z, a-z, 0-9, _ and -."
            )
            return None
        if value is None and webhook_url:
            return secrets.token_urlsafe(32)
        return value

    def integer(
        self, name: str, default: int, *, low: int | None = None, high: int | None = None
    ) -> int:
        return self._bounded(name, default, int, "a whole number", low, high)

    def number(
        self, name: str, default: float, *, low: float | None = None, high: float | None = None
    ) -> float:
        return self._bounded(name, default, float, "a number", low, high)

    def _bounded(
        self, name: str, default: Any, parse: Callable[[str], Any], kind: str, low: Any, high: Any
    ) -> Any:
        expected = kind
        if low is not None and high is not None:
            expected = f"{kind} from {low} to {high}"
        elif low is not None:
            expected = f"{kind} of at least {low}"

        def bounded(raw: str) -> Any:
            value = parse(raw)
            if (
                value != value
                or (low is not None and value < low)
                or (high is not None and value > high)
            ):
                raise ValueError(raw)
            return value

        return self._parse(name, default, bounded, expected)

    def choice(
        self, name: str, default: str, allowed: tuple[str, ...], *, upper: bool = False
    ) -> str:
        def pick(raw: str) -> str:
            value = raw.upper() if upper else raw.lower()
            if value not in allowed:
                raise ValueError(raw)
            return value

        return self._parse(name, default, pick, "one of " + ", ".join(allowed))

    def id_set(self, name: str) -> frozenset[int]:
        def ids(raw: str) -> frozenset[int]:
            return frozenset(int(part) for part in raw.replace(" ", ",").split(",") if part)

        return self._parse(name, frozenset(), ids, "comma-separated numeric Telegram ids")

    def url(self, name: str, default: str) -> str:
        return self.optional_url(name) or default

    def optional_url(self, name: str) -> str | None:
        def url(raw: str) -> str:
            if not raw.startswith(("http://", "https://")):
                raise ValueError(raw)
            return raw

        return self._parse(name, None, url, "an http:// or https:// URL")

    def raise_if_problems(self) -> None:
        if self.problems:
            raise ConfigError(self.problems)
