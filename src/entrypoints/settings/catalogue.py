"""`Settings`: every setting of the service, with its default stated once, here (the TOML
file's tables state theirs in `config_tables.py` and `token_tables.py`); the adapters and the use
cases take their values from it, through the container. What each setting must be on its own is
checked here, what settings must be together in `checks.py`; a bad setting raises
`SettingsError` with one line that names it (`errors.py`).
"""

from __future__ import annotations

import os
from decimal import Decimal
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

from chatservice.domain.models import ModelRegistry, ModelSpec
from chatservice.domain.tenants import Budget, Tenants
from chatservice.entrypoints.settings import registry, token_tables
from chatservice.entrypoints.settings.checks import check_together
from chatservice.entrypoints.settings.config_tables import (
    ModelTable,
    OptionalText,
    ProviderTable,
    Retries,
    Unset,
    provider_default,
)
from chatservice.entrypoints.settings.errors import SettingsError, one_line
from chatservice.entrypoints.settings.token_tables import ScopedToken, ScopedTokenTable, Usd


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
            raise SettingsError(one_line(error.errors()[0], values)) from None

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
        check_together(self)
        return self

    def scoped_tokens(self) -> tuple[ScopedToken, ...]:
        """The `[[tokens]]` entries as the authenticator takes them."""
        return token_tables.scoped_tokens(self.tokens)

    def tenants(self) -> Tenants:
        """The `[[tokens]]` entries as the usage ledger and budgets take them."""
        return token_tables.tenants(self.tokens)

    def user_budget(self) -> Budget:
        """What each user may spend on their own."""
        return Budget(self.budget_tokens_per_day_per_user, self.budget_usd_per_month_per_user)

    @property
    def provider_tables(self) -> dict[str, ProviderTable]:
        """Every configured provider by name (`registry.provider_tables`)."""
        return registry.provider_tables(self)

    @property
    def sole_provider(self) -> str | None:
        """The provider that serves every model under the Part I shorthand, else None."""
        return registry.sole_provider(self)

    def model_registry(self) -> ModelRegistry:
        """The registry these settings make; `InvalidInput` for one they cannot make."""
        return registry.model_registry(self)

    @property
    def custom_models(self) -> tuple[ModelSpec, ...]:
        """The `[models.NAME]` tables, as the model registry takes them."""
        return registry.custom_models(self)

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
