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
from decimal import Decimal
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
from chatservice.domain.models import ModelRegistry, ModelSpec
from chatservice.domain.tenants import Budget, Tenant, Tenants
from chatservice.entrypoints.config_tables import (
    KEY_VARIABLES,
    ModelTable,
    OptionalText,
    ProviderTable,
    Retries,
    Unset,
    is_builtin,
    provider_default,
)
from chatservice.entrypoints.token_tables import (
    ScopedToken,
    ScopedTokenTable,
    TokenTableError,
    Usd,
    check_distinct,
    with_token_values,
)

ENV_PREFIX = "CHATSERVICE_"
#: The variable that names the TOML file when `--config` does not.
CONFIG_VARIABLE = f"{ENV_PREFIX}CONFIG"
#: Settings that are tables, so only the TOML file can give them.
TOML_ONLY = frozenset({"models", "providers", "tokens"})
#: The Part I settings of the one provider that serves every model: the shorthand for a single
#: provider table, left unset when the file has `[providers]` tables.
ONE_PROVIDER_SETTINGS = (
    "gateway",
    "openai_api_key",
    "openai_base_url",
    "openai_organization",
    "openai_project",
    "openai_connect_timeout",
    "openai_idle_timeout",
    "openai_turn_timeout",
    "openai_max_retries",
    "fake_chunk_delay_ms",
)


class SettingsError(Exception):
    pass


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


OptionalCount = Annotated[PositiveInt | None, Unset]
Port = Annotated[int, Field(ge=0, le=65535)]


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
    # The shorthand is one provider table, with that table's defaults.
    openai_connect_timeout: PositiveFloat = provider_default("connect_timeout")
    openai_idle_timeout: PositiveFloat = provider_default("idle_timeout")
    openai_turn_timeout: PositiveFloat = provider_default("turn_timeout")
    openai_max_retries: Retries = provider_default("max_retries")
    model: str = "gpt-4o-mini"
    system_message: str = "You are a helpful assistant."
    max_completion_tokens: OptionalCount = None
    context_window: OptionalCount = None
    window_margin: NonNegativeInt = 0
    #: What new chats keep of the exchanges their window erases, unless they ask otherwise.
    default_memory: Literal["none", "summary"] = "none"
    #: The model that writes the summaries (unset: each chat's own model).
    summary_model: OptionalText = None
    #: The longest a summary may grow, in tokens (the summary call's reply limit).
    summary_max_tokens: PositiveInt = 400
    max_message_chars: PositiveInt = 100_000
    max_body_bytes: PositiveInt = 1_048_576
    #: Chats not updated for this many days are deleted (0: kept for good).
    retention_days: NonNegativeInt = 0
    #: WhatsApp inbound-message records (Twilio redelivery guards) older than this go (0: kept).
    twilio_dedupe_days: NonNegativeInt = 7
    #: How often the retention sweeper inside `serve` runs.
    retention_sweep_seconds: PositiveFloat = 3600.0
    #: Rows one transaction of an erasure or a prune deletes at most (chats, with their messages).
    deletion_batch_size: PositiveInt = 500
    #: The largest chat export `POST …/chats/import` takes (an export outgrows other bodies).
    max_import_bytes: PositiveInt = 33_554_432
    #: How long a turn's claim holds before another turn may take the chat (a crashed replica).
    claim_ttl_seconds: PositiveFloat = 120.0
    #: Turns a user may start per minute (0: no limit), counted per process, or in Redis by all
    #: workers and replicas together when `redis_url` is set.
    turns_per_minute_per_user: NonNegativeInt = 0
    #: What each user may spend: tokens (prompt + completion) per UTC day, USD per UTC month
    #: (0: no limit). A `[[tokens]]` entry's keys of the same names limit its users together.
    budget_tokens_per_day_per_user: NonNegativeInt = 0
    budget_usd_per_month_per_user: Usd = Decimal(0)
    #: The Redis that every worker and replica shares: the per-user turn limit's count and the
    #: live events of background turns (unset: each process keeps its own).
    redis_url: OptionalText = None
    #: The prefix of every key the service writes in Redis (deployments may share one Redis).
    redis_key_prefix: Annotated[str, Field(min_length=1, pattern=r"^[\x21-\x7e]+$")] = "chatservice"
    #: How long a background turn's outcome and events are kept after it ended.
    turn_retention_seconds: Annotated[float, Field(ge=600)] = 600.0
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
    fake_chunk_delay_ms: NonNegativeInt = provider_default("chunk_delay_ms")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    #: `text` for people, `json` (one object a line) for log collectors.
    log_format: Literal["text", "json"] = "text"
    #: Models beyond the built-in registry, or changes to built-in ones, declared as
    #: `[models.NAME]` tables in the TOML file.
    models: dict[str, ModelTable] = Field(default_factory=dict)
    #: The model providers, as `[providers.NAME]` tables in the TOML file; none: the one provider
    #: of `gateway` serves every model.
    providers: dict[str, ProviderTable] = Field(default_factory=dict)
    #: Scoped tokens, as `[[tokens]]` entries of the TOML file: each acts only for the users its
    #: glob matches.
    tokens: tuple[ScopedTokenTable, ...] = ()

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
        _check(
            bool(self.twilio_account_sid) == bool(self.twilio_auth_token),
            "twilio_account_sid",
            "and twilio_auth_token must be set together (or neither, to leave WhatsApp off)",
        )
        if self.providers:
            for name in ONE_PROVIDER_SETTINGS:
                _check(
                    getattr(self, name) == Settings.model_fields[name].default,
                    name,
                    "is the shorthand for one provider serving every model: with [providers] "
                    "tables, set it in a provider's table instead",
                )
        self._check_providers()
        try:
            check_distinct(self.tokens, self.auth_tokens)
        except TokenTableError as error:
            raise SettingsError(str(error)) from None
        try:
            registry = self.model_registry()
        except InvalidInput as error:
            raise SettingsError(str(error)) from None
        try:
            registry.servable(self.model)
        except InvalidInput as error:
            _check(False, "model", f"cannot serve a chat: {error}")
        return self

    def scoped_tokens(self) -> tuple[ScopedToken, ...]:
        """The `[[tokens]]` entries as the authenticator takes them."""
        return tuple(ScopedToken(t.name, t.token, t.users) for t in self.tokens)

    def tenants(self) -> Tenants:
        """The `[[tokens]]` entries as the usage ledger and budgets take them."""
        return Tenants(
            tuple(
                Tenant(
                    t.name,
                    t.users,
                    Budget(t.budget_tokens_per_day_per_user, t.budget_usd_per_month_per_user),
                )
                for t in self.tokens
            )
        )

    def user_budget(self) -> Budget:
        """What each user may spend on their own."""
        return Budget(self.budget_tokens_per_day_per_user, self.budget_usd_per_month_per_user)

    def _check_providers(self) -> None:
        # A turn outliving its claim could be overtaken by another turn on the same chat.
        if not self.providers:  # the shorthand's own settings are named
            _check(
                self.openai_turn_timeout < self.claim_ttl_seconds,
                "openai_turn_timeout",
                "must be shorter than claim_ttl_seconds",
            )
            _check(
                all(table.missing_key() is None for table in self.provider_tables.values()),
                "openai_api_key",
                "is required for OpenAI's own endpoint (set it, or OPENAI_API_KEY, or a base URL)",
            )
        for name, table in self.providers.items():
            if table.turn_timeout >= self.claim_ttl_seconds:
                raise SettingsError(
                    f"provider {name!r}: turn_timeout must be shorter than claim_ttl_seconds"
                )
            if missing_key := table.missing_key():
                raise SettingsError(f"provider {name!r} {missing_key}")

    @property
    def provider_tables(self) -> dict[str, ProviderTable]:
        """Every configured provider by name: the `[providers]` tables, or the one provider the
        Part I settings describe, named after its `gateway`."""
        if self.providers:
            return self.providers
        if self.gateway == "fake":
            return {"fake": ProviderTable(kind="fake", chunk_delay_ms=self.fake_chunk_delay_ms)}
        openai = ProviderTable(
            kind="openai",
            base_url=self.openai_base_url,
            api_key=self.openai_api_key,
            organization=self.openai_organization,
            project=self.openai_project,
            connect_timeout=self.openai_connect_timeout,
            idle_timeout=self.openai_idle_timeout,
            turn_timeout=self.openai_turn_timeout,
            max_retries=self.openai_max_retries,
        )
        return {"openai": openai}

    @property
    def sole_provider(self) -> str | None:
        """The provider that serves every model, whichever provider the model names (the Part I
        shorthand); None with `[providers]` tables."""
        return None if self.providers else self.gateway

    def model_registry(self) -> ModelRegistry:
        """The registry these settings make: the built-in models and the `[models]` tables,
        each served by a configured provider or by none. `InvalidInput` for a table that cannot
        be a model, a model of one's own that no configured provider serves, and fallbacks that
        name no servable model or lead back to where they started."""
        return ModelRegistry(
            custom=self.custom_models,
            context_window_override=self.context_window,
            providers=tuple(self.provider_tables),
            sole_provider=self.sole_provider,
        )

    @property
    def custom_models(self) -> tuple[ModelSpec, ...]:
        """The `[models.NAME]` tables, as the model registry takes them."""
        for name, table in self.models.items():
            if self.providers and table.provider is None and not is_builtin(name):
                raise InvalidInput(
                    f"model {name!r}: provider is required (the name of a [providers] table)"
                )
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
    def turn_events_store(self) -> Literal["process", "redis"]:
        """Where background turns' live events are kept: in Redis when there is one."""
        return "redis" if self.redis_url else "process"

    @property
    def window_cache_bytes(self) -> int:
        return self.window_cache_mb * 2**20


def _check(ok: bool, name: str, problem: str) -> None:
    if not ok:
        raise SettingsError(f"setting {name} (env {ENV_PREFIX}{name.upper()}) {problem}")


_EXPLANATION = re.compile(r", (?:unable to|got) ")
#: What a table of each kind is called in an error.
_TABLES = {"models": "model", "providers": "provider", "tokens": "token"}


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
    if where[0] in _TABLES and len(where) > 1:
        return " ".join([f"{_TABLES[where[0]]} {where[1]!r}:", *where[2:], problem])
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
    document = _from_toml(Path(config_file)) if config_file else {}
    # Lowest first: the plain OpenAI variable other tools read, the file, our own variables.
    # With provider tables, each reads its key from its own variable (OPENAI_API_KEY included).
    values: dict[str, Any] = {}
    if environ.get("OPENAI_API_KEY") and not document.get("providers"):
        values["openai_api_key"] = environ["OPENAI_API_KEY"]
    values.update(document)
    if isinstance(providers := document.get("providers"), dict):
        values["providers"] = _with_keys(providers, environ)
    if "tokens" in document:
        try:
            values["tokens"] = with_token_values(document["tokens"], environ)
        except TokenTableError as error:
            raise SettingsError(str(error)) from None
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


def _with_keys(providers: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """The `[providers]` tables, each with the key its environment variable holds. A key is
    never read from the file, which is more often shared, copied and committed than the
    environment."""
    keyed = {}
    for name, table in providers.items():
        if not isinstance(table, dict):  # the settings model names the mistake
            keyed[name] = table
            continue
        if "api_key" in table:
            raise SettingsError(
                f"provider {name!r}: api_key is not read from the file; put the key in the "
                "environment variable api_key_env names"
            )
        variable = table.get("api_key_env") or KEY_VARIABLES.get(table.get("kind", ""))
        key = environ.get(variable) if isinstance(variable, str) else None
        keyed[name] = table | ({"api_key": key} if key else {})
    return keyed
