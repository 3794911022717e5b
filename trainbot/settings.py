"""Configuration from environment variables (and an optional `.env` file), validated at start.

The settings are a pydantic-settings model: each field names its variable, its type and its
range. `Settings.from_env()` reads the environment over a `.env` file, reads a secret's
`NAME_FILE` into `NAME` (how Docker and Kubernetes mount secrets), and raises one ConfigError
with one line per wrong value. `Settings(...)` in code takes the values given and the defaults,
and reads nothing.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

import annotated_types
from pydantic import AfterValidator, BeforeValidator, Field, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from trainer.limits import Limits

DEFAULT_DATABASE_URL = "sqlite:///trainbot.sqlite3"
DEFAULT_API_BASE_URL = "https://api.telegram.org/bot"
DEFAULT_API_FILE_URL = "https://api.telegram.org/file/bot"
DEFAULT_HEARTBEAT_FILE = "trainbot-bot.heartbeat"
# The most a bot may download from Telegram (telegram.constants.FileSizeLimit.FILESIZE_DOWNLOAD,
# checked by a test): written out so that workers, which read these settings too, never load
# python-telegram-bot.
TELEGRAM_DOWNLOAD_BYTES = 20_000_000
# Variables that may come as a file named by NAME_FILE instead.
SECRET_VARIABLES = ("TELEGRAM_BOT_TOKEN", "TRAINBOT_WEBHOOK_SECRET")


class ConfigError(ValueError):
    """One or more settings are wrong; the message has one line per wrong value."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Expected:
    """What the line about a wrong value says the variable takes (pydantic ignores it)."""

    text: str
    # A secret's line names the variable but never shows the value.
    secret: bool = False


def _lower(raw: object) -> object:
    return raw.lower() if isinstance(raw, str) else raw


def _upper(raw: object) -> object:
    return raw.upper() if isinstance(raw, str) else raw


def _ids(raw: object) -> object:
    if not isinstance(raw, str):
        return raw
    return frozenset(int(part) for part in raw.replace(" ", ",").split(",") if part)


def _off_or_at_least_a_second(value: float) -> float:
    if 0 < value < 1:
        raise ValueError("below a second")
    return value


def _http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError("not an http:// or https:// URL")
    return value


TelegramIds = Annotated[
    frozenset[int],
    NoDecode,  # a comma-separated list, not JSON
    BeforeValidator(_ids),
    Expected("comma-separated numeric Telegram ids"),
]
HttpUrl = Annotated[str, AfterValidator(_http_url), Expected("an http:// or https:// URL")]
# What Telegram allows in a webhook's secret_token.
WebhookSecret = Annotated[
    str,
    Field(pattern=r"^[A-Za-z0-9_-]{1,256}$"),
    Expected("Telegram allows 1 to 256 characters A-Z, a-z, 0-9, _ and -", secret=True),
]
KerasBackend = Annotated[Literal["tensorflow", "jax"], BeforeValidator(_lower)]
LogLevel = Annotated[Literal["DEBUG", "INFO", "WARNING", "ERROR"], BeforeValidator(_upper)]
LogFormat = Annotated[Literal["text", "json"], BeforeValidator(_lower)]
Interval = Annotated[
    float,
    Field(ge=0.0),
    AfterValidator(_off_or_at_least_a_second),
    Expected("0 (off) or a number of seconds of at least 1"),
]

_LIMITS = Limits()


class Settings(BaseSettings):
    """Every setting of bot and worker, each under the variable it is read from."""

    model_config = SettingsConfigDict(
        frozen=True,
        case_sensitive=True,
        extra="ignore",
        validate_by_name=True,
        validate_by_alias=True,
        allow_inf_nan=False,
    )

    telegram_bot_token: str | None = Field(None, alias="TELEGRAM_BOT_TOKEN", repr=False)
    database_url: str = Field(DEFAULT_DATABASE_URL, alias="DATABASE_URL")
    telegram_api_base_url: HttpUrl = Field(DEFAULT_API_BASE_URL, alias="TELEGRAM_API_BASE_URL")
    telegram_api_file_url: HttpUrl = Field(DEFAULT_API_FILE_URL, alias="TELEGRAM_API_FILE_URL")
    allowed_users: TelegramIds = Field(frozenset(), alias="TRAINBOT_ALLOWED_USERS")
    allowed_chats: TelegramIds = Field(frozenset(), alias="TRAINBOT_ALLOWED_CHATS")
    keras_backend: KerasBackend = Field("tensorflow", alias="KERAS_BACKEND")
    webhook_url: HttpUrl | None = Field(None, alias="TRAINBOT_WEBHOOK_URL")
    webhook_listen: str = Field("0.0.0.0", alias="TRAINBOT_WEBHOOK_LISTEN")
    webhook_port: int = Field(8443, ge=1, le=65535, alias="TRAINBOT_WEBHOOK_PORT")
    webhook_secret: WebhookSecret | None = Field(
        None, alias="TRAINBOT_WEBHOOK_SECRET", repr=False, validate_default=True
    )
    # Telegram's own limit by default: a bot cannot download more, so asking less of users
    # would only refuse files that could work.
    max_upload_bytes: int = Field(
        TELEGRAM_DOWNLOAD_BYTES,
        ge=1024,
        le=TELEGRAM_DOWNLOAD_BYTES,
        alias="TRAINBOT_MAX_UPLOAD_BYTES",
    )
    max_rows: int = Field(_LIMITS.max_rows, ge=10, alias="TRAINBOT_MAX_ROWS")
    max_columns: int = Field(_LIMITS.max_columns, ge=2, le=5000, alias="TRAINBOT_MAX_COLUMNS")
    max_epochs: int = Field(_LIMITS.max_epochs, ge=1, alias="TRAINBOT_MAX_EPOCHS")
    max_unfinished_jobs_per_chat: int = Field(3, ge=1, le=1000, alias="TRAINBOT_MAX_JOBS_PER_CHAT")
    # Quotas of an open bot; 0 turns one off. Trainings count per user, in all chats together;
    # stored bytes per chat: its uploads, models and made files (plots, prediction tables).
    trainings_per_hour: int = Field(20, ge=0, le=100_000, alias="TRAINBOT_TRAININGS_PER_HOUR")
    max_bytes_per_chat: int = Field(100_000_000, ge=0, alias="TRAINBOT_MAX_BYTES_PER_CHAT")
    predict_limit: int = Field(10, ge=1, le=100_000, alias="TRAINBOT_PREDICT_LIMIT")
    predict_window_seconds: float = Field(
        10.0, ge=0.1, le=86_400.0, alias="TRAINBOT_PREDICT_WINDOW"
    )
    delivery_attempts: int = Field(10, ge=1, le=100, alias="TRAINBOT_DELIVERY_ATTEMPTS")
    heartbeat_file: Path = Field(Path(DEFAULT_HEARTBEAT_FILE), alias="TRAINBOT_HEARTBEAT_FILE")
    job_max_attempts: int = Field(3, ge=1, le=100, alias="TRAINBOT_JOB_MAX_ATTEMPTS")
    job_timeout_seconds: float = Field(900.0, ge=1.0, alias="TRAINBOT_JOB_TIMEOUT")
    lease_seconds: float = Field(30.0, ge=1.0, le=3600.0, alias="TRAINBOT_LEASE_SECONDS")
    poll_interval: float = Field(0.1, ge=0.01, le=60.0, alias="TRAINBOT_POLL_INTERVAL")
    progress_interval: float = Field(2.0, ge=0.1, le=600.0, alias="TRAINBOT_PROGRESS_INTERVAL")
    model_cache_size: int = Field(8, ge=0, le=1000, alias="TRAINBOT_MODEL_CACHE_SIZE")
    # Training jobs a worker claims at once and trains as one program; 0: 8 on a CPU, 64 on
    # a GPU (trainer.worker.loop.TRAIN_BATCH).
    train_batch: int = Field(0, ge=0, le=512, alias="TRAINBOT_TRAIN_BATCH")
    # Processes that draw a batch's reports side by side (trainer.report.processes); 0: one
    # per core.
    plot_processes: int = Field(0, ge=0, le=256, alias="TRAINBOT_PLOT_PROCESSES")
    train_wait_seconds: float = Field(300.0, ge=1.0, alias="TRAINBOT_TRAIN_WAIT")
    # Uploads are read in child processes of the bot (bot.parse_pool): at most this many at
    # once, each for at most this long and with at most this much memory.
    parse_processes: int = Field(2, ge=1, le=64, alias="TRAINBOT_PARSE_PROCESSES")
    parse_seconds: float = Field(30.0, ge=1.0, le=3600.0, alias="TRAINBOT_PARSE_SECONDS")
    parse_memory_mb: int = Field(1500, ge=100, le=1_000_000, alias="TRAINBOT_PARSE_MEMORY_MB")
    worker_name: str | None = Field(None, alias="TRAINBOT_WORKER_NAME")
    # Retention: the bot prunes every prune_interval seconds (0: only `trainbot db prune`
    # does), keeping each kind of row this many days; 0 keeps it for ever.
    prune_interval: Interval = Field(3600.0, alias="TRAINBOT_PRUNE_INTERVAL")
    keep_datasets_days: float = Field(7.0, ge=0.0, alias="TRAINBOT_KEEP_DATASETS_DAYS")
    keep_artifacts_days: float = Field(7.0, ge=0.0, alias="TRAINBOT_KEEP_ARTIFACTS_DAYS")
    keep_outbox_days: float = Field(7.0, ge=0.0, alias="TRAINBOT_KEEP_OUTBOX_DAYS")
    keep_jobs_days: float = Field(90.0, ge=0.0, alias="TRAINBOT_KEEP_JOBS_DAYS")
    keep_models_days: float = Field(180.0, ge=0.0, alias="TRAINBOT_KEEP_MODELS_DAYS")
    log_level: LogLevel = Field("INFO", alias="TRAINBOT_LOG_LEVEL")
    log_format: LogFormat = Field("text", alias="TRAINBOT_LOG_FORMAT")

    @field_validator("webhook_secret")
    @classmethod
    def _a_webhook_always_has_a_secret(cls, value: str | None, info: Any) -> str | None:
        """In webhook mode, a random secret when none is set.

        Without a secret anyone who finds the webhook's address could post forged updates
        (user ids are not secret). A generated secret is new at every start, which is enough:
        the bot passes it to setWebhook each time it starts.
        """
        if value is None and info.data.get("webhook_url"):
            return secrets.token_urlsafe(32)
        return value

    @property
    def limits(self) -> Limits:
        """The caps users meet, for the trainer (which knows nothing of these settings)."""
        return Limits(
            max_upload_bytes=self.max_upload_bytes,
            max_rows=self.max_rows,
            max_columns=self.max_columns,
            max_epochs=self.max_epochs,
        )

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
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Settings(...) in code (tests, benchmarks) is what it says: no variable leaks in.
        # from_env hands the sources that read variables itself.
        return (init_settings,)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, env_file: Path | None = Path(".env")
    ) -> Settings:
        """Read and validate every setting; raise ConfigError listing each wrong value."""
        variables = _Variables(cls, os.environ if environ is None else environ, env_file)
        try:
            settings = cls(_build_sources=((variables,), {}))
        except ValidationError as error:
            raise ConfigError(variables.problems + _problems(error, variables.env_vars)) from None
        if variables.problems:
            raise ConfigError(variables.problems)
        return settings


class _Variables(EnvSettingsSource):
    """The variables of `environ` over those of a `.env` file, blank ones left out (an empty
    `NAME=` in `.env.example` means the default), and each secret's NAME_FILE read into NAME.

    pydantic-settings' own environment source reads `os.environ` alone; this one reads the
    mapping it is given, so a caller (a test) can hand its own environment.
    """

    def __init__(
        self, settings_cls: type[BaseSettings], environ: Mapping[str, str], env_file: Path | None
    ) -> None:
        from_file = DotEnvSettingsSource(settings_cls, env_file=env_file).env_vars
        self.given = {**(from_file if env_file is not None else {}), **environ}
        self.problems: list[str] = []
        super().__init__(settings_cls)  # reads the variables, through _load_env_vars

    def _load_env_vars(self) -> dict[str, str]:
        variables = {
            name: value.strip() for name, value in self.given.items() if value and value.strip()
        }
        for name in SECRET_VARIABLES:
            file_name = variables.get(f"{name}_FILE")
            if name in variables or file_name is None:
                continue
            try:
                secret = Path(file_name).read_text(encoding="utf-8").strip()
            except OSError as exc:
                self.problems.append(f"{name}_FILE={file_name!r} cannot be read: {exc.strerror}.")
                continue
            if secret:
                variables[name] = secret
        return variables


def _problems(error: ValidationError, variables: Mapping[str, str | None]) -> list[str]:
    """One line per variable whose value is wrong, saying what it takes."""
    fields = {field.alias: field for field in Settings.model_fields.values()}
    problems: dict[str, str] = {}
    for detail in error.errors():
        name = str(detail["loc"][0]) if detail["loc"] else ""
        field = fields.get(name)
        if field is None or name in problems:
            continue
        expected = _expected(field)
        if expected.secret:
            problems[name] = f"{name} is not valid: {expected.text}."
        else:
            raw = variables.get(name, detail["input"])
            problems[name] = f"{name}={raw!r} is not valid: expected {expected.text}."
    return list(problems.values())


def _expected(field: FieldInfo) -> Expected:
    """What a field takes, from its type and range, unless its type says so itself."""
    metadata = [*field.metadata, *_annotated_metadata(field.annotation)]
    said = next((m for m in metadata if isinstance(m, Expected)), None)
    if said is not None:
        return said
    choices = _literal_choices(field.annotation)
    if choices:
        return Expected("one of " + ", ".join(choices))
    kind = "a whole number" if field.annotation is int else "a number"
    low = next((m.ge for m in metadata if isinstance(m, annotated_types.Ge)), None)
    high = next((m.le for m in metadata if isinstance(m, annotated_types.Le)), None)
    if low is not None and high is not None:
        return Expected(f"{kind} from {low} to {high}")
    if low is not None:
        return Expected(f"{kind} of at least {low}")
    return Expected(kind)


def _annotated_metadata(annotation: Any) -> list[Any]:
    """The metadata of an Annotated type, also inside `X | None`."""
    found: list[Any] = list(getattr(annotation, "__metadata__", ()))
    for member in get_args(annotation):
        found += getattr(member, "__metadata__", ())
    return found


def _literal_choices(annotation: Any) -> tuple[str, ...]:
    if get_origin(annotation) is Literal:
        return tuple(str(choice) for choice in get_args(annotation))
    return ()
