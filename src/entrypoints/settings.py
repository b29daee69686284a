"""Settings: defaults, then an optional TOML file, then `CHATSERVICE_*` environment variables.

`Settings` (a pydantic model) is the one place every setting and its default is stated; the
adapters and the use cases take their values from it, through the container. A bad setting raises
`SettingsError` with one line that names it; `chatservice serve` prints that line and exits.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from chatservice.domain.errors import InvalidInput
from chatservice.domain.models import SAMPLING_PARAMS, ModelSpec
from chatservice.domain.providers import is_openai_endpoint

ENV_PREFIX = "CHATSERVICE_"
#: The variable that names the TOML file when `--config` does not.
CONFIG_VARIABLE = f"{ENV_PREFIX}CONFIG"
#: Settings that are tables, so only the TOML file can give them.
TOML_ONLY = frozenset({"models"})


class SettingsError(Exception):
    pass


def _empty_is_unset(value: object) -> object:
    # An empty variable (`CHATSERVICE_OPENAI_BASE_URL=`) leaves an optional setting unset.
    return None if value == "" else value


def _comma_separated(value: object) -> object:
    """A list from the environment's `a,b` or TOML's `["a", "b"]`; blanks around and between
    the commas are dropped."""
    items = value.split(",") if isinstance(value, str) else value
    if isinstance(items, list | tuple):
        return tuple(item.strip() for item in items if isinstance(item, str) and item.strip())
    return value


def _process_count(value: object) -> object:
    """`workers`: a number (given as text by the environment and the command line) or `auto`."""
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    if value == "auto" or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise ValueError(f"must be a number of processes (1 or more) or auto, got {value!r}")


Unset = BeforeValidator(_empty_is_unset)
OptionalText = Annotated[str | None, Unset]
OptionalCount = Annotated[PositiveInt | None, Unset]
Port = Annotated[int, Field(ge=0, le=65535)]


class ModelTable(BaseModel):
    """A `[models.NAME]` table of the TOML file: a model beyond the built-in registry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    context_window: int
    max_output: int
    encoding: str = "o200k_base"
    #: The room kept for the reply by default; min(4096, max_output) when not given.
    default_reserve: int | None = None
    #: Compatible servers (vLLM, Ollama, …) mostly take the older name.
    max_tokens_param: str = "max_tokens"
    sampling_params: frozenset[str] = SAMPLING_PARAMS
    #: Whether `encoding` is the model's own tokenizer; few servers' models have one in tiktoken.
    exact_tokenizer: bool = False

    def spec(self, name: str) -> ModelSpec:
        """The model as the registry knows it; `InvalidInput` when the table cannot be one."""
        return ModelSpec(
            name=name,
            context_window=self.context_window,
            max_output=self.max_output,
            encoding=self.encoding,
            default_reserve=(
                min(4096, self.max_output) if self.default_reserve is None else self.default_reserve
            ),
            max_tokens_param=self.max_tokens_param,
            sampling_params=self.sampling_params,
            exact_tokenizer=self.exact_tokenizer,
        )


class Settings(BaseModel):
    """Every setting of the service, with its default (docs/configuration.md lists them)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    database_url: str = "sqlite+aiosqlite:///./chatservice.db"
    #: MySQL/MariaDB: the longest a new connection may take to open (a host that drops packets).
    database_connect_timeout: PositiveFloat = 5.0
    #: MySQL/MariaDB: the longest wait for one answer of the server (a node that stopped
    #: answering). Longer than a Galera cluster's pause while it evicts a dead node.
    database_read_timeout: PositiveFloat = 30.0
    #: Memory for this replica's copy of recently used chats' windows (0: read them every turn).
    window_cache_mb: NonNegativeInt = 64
    auth_tokens: Annotated[tuple[str, ...], BeforeValidator(_comma_separated)] = ()
    gateway: Literal["fake", "openai"] = "fake"
    openai_api_key: OptionalText = None
    openai_base_url: OptionalText = None
    openai_organization: OptionalText = None
    openai_project: OptionalText = None
    openai_connect_timeout: PositiveFloat = 5.0
    #: The longest pause allowed between two chunks of a stream (and before the first).
    openai_idle_timeout: PositiveFloat = 60.0
    #: The longest a whole turn may take, first byte to last.
    openai_turn_timeout: PositiveFloat = 110.0
    #: Retries of a request that got no response yet (connection errors, 408, 429, 5xx).
    openai_max_retries: Annotated[int, Field(ge=0, le=10)] = 2
    model: str = "gpt-4o-mini"
    system_message: str = "You are a helpful assistant."
    max_completion_tokens: OptionalCount = None
    context_window: OptionalCount = None
    window_margin: NonNegativeInt = 0
    max_message_chars: PositiveInt = 100_000
    max_body_bytes: PositiveInt = 1_048_576
    #: How long a turn's claim holds before another turn may take the chat (a crashed replica).
    claim_ttl_seconds: PositiveFloat = 120.0
    #: Turns a user may start per minute (0: no limit), counted per process, or in Redis by all
    #: workers and replicas together when `redis_url` is set.
    turns_per_minute_per_user: NonNegativeInt = 0
    #: The Redis that holds the per-user turn limit's count (unset: each process counts alone).
    redis_url: OptionalText = None
    shutdown_grace_seconds: NonNegativeFloat = 20.0
    #: Processes serving the same ports under one supervisor (1: the process serves alone);
    #: `auto`: one per core this process may run on. `serve --workers` overrides it.
    workers: Annotated[PositiveInt | Literal["auto"], BeforeValidator(_process_count)] = 1
    #: How often an idle SSE stream gets a `: ping` comment, so proxies keep it open.
    sse_ping_seconds: PositiveFloat = 15.0
    host: str = "127.0.0.1"
    http_port: Port = 8080
    grpc_port: Port = 50051
    public_base_url: str = "http://localhost:8080"
    twilio_account_sid: OptionalText = None
    twilio_auth_token: OptionalText = None
    twilio_api_base_url: str = "https://api.twilio.com"
    # Twilio gives up on a webhook after 15 s; the TwiML reply must come well before.
    twilio_reply_timeout: Annotated[float, Field(gt=0, lt=15)] = 10.0
    fake_chunk_delay_ms: NonNegativeInt = 0
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    #: `text` for people, `json` (one object a line) for log collectors.
    log_format: Literal["text", "json"] = "text"
    #: Models beyond the built-in registry, declared as `[models.NAME]` tables in the TOML file.
    models: dict[str, ModelTable] = Field(default_factory=dict)

    def __init__(self, **values: Any) -> None:  # Any: each setting has a type of its own
        try:
            super().__init__(**values)
        except ValidationError as error:
            raise SettingsError(_problem(error.errors()[0])) from None

    @field_validator("public_base_url")
    @classmethod
    def _public_url(cls, url: str) -> str:
        if not url.startswith(("http://", "https://")):
            raise ValueError(
                "must be the service's public http:// or https:// URL, as Twilio calls it"
            )
        return url

    @field_validator("database_url")
    @classmethod
    def _database_file_or_server(cls, url: str) -> str:
        if "://" not in url or ":memory:" in url:
            raise ValueError("must be a database URL to a file or server, not :memory:")
        return url

    @field_validator("redis_url")
    @classmethod
    def _redis_location(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a redis://host:port/db, rediss://… or unix://… URL")
        return url

    @model_validator(mode="after")
    def _settings_that_work_together(self) -> Settings:
        # A turn outliving its claim could be overtaken by another turn on the same chat.
        _check(
            self.openai_turn_timeout < self.claim_ttl_seconds,
            "openai_turn_timeout",
            "must be shorter than claim_ttl_seconds",
        )
        _check(
            self.gateway != "openai"
            or not is_openai_endpoint(self.openai_base_url)
            or bool(self.openai_api_key),
            "openai_api_key",
            "is required for OpenAI's own endpoint (set it, or OPENAI_API_KEY, or a base URL)",
        )
        _check(
            bool(self.twilio_account_sid) == bool(self.twilio_auth_token),
            "twilio_account_sid",
            "and twilio_auth_token must be set together (or neither, to leave WhatsApp off)",
        )
        for name, table in self.models.items():
            try:
                table.spec(name)
            except InvalidInput as error:
                raise SettingsError(str(error)) from None
        return self

    @property
    def custom_models(self) -> tuple[ModelSpec, ...]:
        """The `[models.NAME]` tables, as the model registry takes them."""
        return tuple(table.spec(name) for name, table in self.models.items())

    @property
    def twilio_configured(self) -> bool:
        """Whether the WhatsApp webhook is on (both Twilio credentials are set)."""
        return bool(self.twilio_account_sid and self.twilio_auth_token)

    @property
    def worker_count(self) -> int:
        """`workers`, with `auto` resolved to the cores this process may run on."""
        if self.workers != "auto":
            return self.workers
        # os.process_cpu_count (Python 3.13+) counts the cores the process may use (its CPU
        # affinity); os.cpu_count, all of the machine's.
        count: int | None = getattr(os, "process_cpu_count", os.cpu_count)()
        return count or 1

    @property
    def turn_limit_store(self) -> Literal["process", "redis"]:
        """Where the per-user turn limit is counted: in Redis when there is one and a limit."""
        return "redis" if self.redis_url and self.turns_per_minute_per_user else "process"

    @property
    def window_cache_bytes(self) -> int:
        return self.window_cache_mb * 2**20


def _check(ok: bool, name: str, problem: str) -> None:
    if not ok:
        raise SettingsError(f"setting {name} (env {ENV_PREFIX}{name.upper()}) {problem}")


_EXPLANATION = re.compile(r", (?:unable to|got) ")


def _problem(error: ErrorDetails) -> str:
    """One line naming the setting (or the model's table) and what is wrong with it."""
    where = [str(part) for part in error["loc"]]
    if error["type"] == "missing":
        problem = "is required"
    elif error["type"] == "extra_forbidden":
        problem = "is not a setting"
    elif error["type"] == "value_error":
        problem = str(error["ctx"]["error"])
    else:  # pydantic's "Input should be …" without its explanation, and what was given
        problem = _EXPLANATION.split(error["msg"].replace("Input should be", "must be", 1))[0]
        problem += f", got {error['input']!r}"
    if where[0] == "models" and len(where) > 1:
        return " ".join([f"model {where[1]!r}:", *where[2:], problem])
    name = where[0]
    return f"setting {name} (env {ENV_PREFIX}{name.upper()}) {problem}"


def load_settings(
    config_file: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """The settings from `config_file` (else the one `CHATSERVICE_CONFIG` names), `environ`
    (the process's own by default) and `overrides` (the command line's, above all others);
    `SettingsError` names the first bad one."""
    environ = os.environ if environ is None else environ
    config_file = config_file or environ.get(CONFIG_VARIABLE)
    # Lowest first: the plain OpenAI variable other tools read, the file, our own variables.
    values: dict[str, Any] = {}
    if environ.get("OPENAI_API_KEY"):
        values["openai_api_key"] = environ["OPENAI_API_KEY"]
    if config_file:
        values.update(_from_toml(Path(config_file)))
    values.update(
        (name, environ[variable])
        for name in Settings.model_fields.keys() - TOML_ONLY
        if (variable := f"{ENV_PREFIX}{name.upper()}") in environ
    )
    values.update(overrides or {})
    return Settings(**values)


def _from_toml(path: Path) -> dict[str, Any]:
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"configuration file {path}: {exc}") from exc
    if unknown := sorted(document.keys() - Settings.model_fields.keys()):
        raise SettingsError(f"configuration file {path}: unknown setting {unknown[0]!r}")
    return document
