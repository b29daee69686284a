"""Settings: defaults, then an optional TOML file, then `CHATSERVICE_*` environment variables.

A bad setting raises `SettingsError` with one line that names it; `chatservice serve` prints that
line and exits.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chatservice.domain.errors import InvalidInput
from chatservice.domain.models import SAMPLING_PARAMS, ModelSpec
from chatservice.domain.providers import is_openai_endpoint

ENV_PREFIX = "CHATSERVICE_"
GATEWAYS = ("fake", "openai")


class SettingsError(Exception):
    pass


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite+aiosqlite:///./chatservice.db"
    #: Memory for this replica's copy of recently used chats' windows (0: read them every turn).
    window_cache_mb: int = 64
    auth_tokens: tuple[str, ...] = ()
    gateway: str = "fake"
    openai_api_key: str | None = None
    openai_base_url: str | None = None
    openai_organization: str | None = None
    openai_project: str | None = None
    openai_connect_timeout: float = 5.0
    openai_idle_timeout: float = 60.0
    openai_turn_timeout: float = 110.0
    openai_max_retries: int = 2
    model: str = "gpt-4o-mini"
    system_message: str = "You are a helpful assistant."
    max_completion_tokens: int | None = None
    context_window: int | None = None
    window_margin: int = 0
    max_message_chars: int = 100_000
    max_body_bytes: int = 1_048_576
    claim_ttl_seconds: float = 120.0
    #: Turns a user may start per minute, counted per process (0: no limit).
    turns_per_minute_per_user: int = 0
    shutdown_grace_seconds: float = 20.0
    #: How often an idle SSE stream gets a `: ping` comment, so proxies keep it open.
    sse_ping_seconds: float = 15.0
    host: str = "127.0.0.1"
    http_port: int = 8080
    grpc_port: int = 50051
    public_base_url: str = "http://localhost:8080"
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_api_base_url: str = "https://api.twilio.com"
    twilio_reply_timeout: float = 10.0
    fake_chunk_delay_ms: int = 0
    log_level: str = "INFO"
    #: `text` for people, `json` (one object a line) for log collectors.
    log_format: str = "text"
    #: Models beyond the built-in registry, declared as `[models.NAME]` tables in the TOML file.
    models: tuple[ModelSpec, ...] = field(default=())

    def __post_init__(self) -> None:
        _check(self.gateway in GATEWAYS, "gateway", f"must be one of {', '.join(GATEWAYS)}")
        _check(self.log_format in ("text", "json"), "log_format", "must be text or json")
        _check(
            self.log_level in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"),
            "log_level",
            "must be DEBUG, INFO, WARNING, ERROR or CRITICAL",
        )
        for name in ("http_port", "grpc_port"):
            _check(0 <= getattr(self, name) <= 65535, name, "must be a port number")
        for name in ("max_completion_tokens", "context_window"):
            value = getattr(self, name)
            _check(value is None or value > 0, name, "must be positive")
        for name in (
            "max_message_chars",
            "max_body_bytes",
            "claim_ttl_seconds",
            "twilio_reply_timeout",
            "sse_ping_seconds",
            "openai_connect_timeout",
            "openai_idle_timeout",
            "openai_turn_timeout",
        ):
            _check(getattr(self, name) > 0, name, "must be positive")
        _check(0 <= self.openai_max_retries <= 10, "openai_max_retries", "must be 0 to 10")
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
        for name in (
            "window_margin",
            "fake_chunk_delay_ms",
            "shutdown_grace_seconds",
            "turns_per_minute_per_user",
            "window_cache_mb",
        ):
            _check(getattr(self, name) >= 0, name, "must not be negative")
        _check(all(self.auth_tokens), "auth_tokens", "must not contain an empty token")
        _check(
            bool(self.twilio_account_sid) == bool(self.twilio_auth_token),
            "twilio_account_sid",
            "and twilio_auth_token must be set together (or neither, to leave WhatsApp off)",
        )
        # Twilio gives up on a webhook after 15 s; the TwiML reply must come well before.
        _check(self.twilio_reply_timeout < 15, "twilio_reply_timeout", "must be under 15 seconds")
        _check(
            self.public_base_url.startswith(("http://", "https://")),
            "public_base_url",
            "must be the service's public http:// or https:// URL, as Twilio calls it",
        )
        _check(
            "://" in self.database_url and ":memory:" not in self.database_url,
            "database_url",
            "must be a database URL to a file or server, not :memory:",
        )

    @property
    def twilio_configured(self) -> bool:
        """Whether the WhatsApp webhook is on (both Twilio credentials are set)."""
        return bool(self.twilio_account_sid and self.twilio_auth_token)

    @property
    def window_cache_bytes(self) -> int:
        return self.window_cache_mb * 2**20


def _check(ok: bool, name: str, problem: str) -> None:
    if not ok:
        raise SettingsError(f"setting {name} (env {ENV_PREFIX}{name.upper()}) {problem}")


def load_settings(
    config_file: str | Path | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    config_file = config_file or environ.get(f"{ENV_PREFIX}CONFIG")
    if config_file:
        values.update(_from_toml(Path(config_file)))
    for name in _scalar_fields():
        raw = environ.get(ENV_PREFIX + name.upper())
        if raw is not None:
            values[name] = _coerce(name, raw)
    if "openai_api_key" not in values and environ.get("OPENAI_API_KEY"):
        values["openai_api_key"] = environ["OPENAI_API_KEY"]
    return Settings(**values)


def _scalar_fields() -> dict[str, Any]:
    hints = typing.get_type_hints(Settings)
    return {f.name: hints[f.name] for f in dataclasses.fields(Settings) if f.name != "models"}


def _from_toml(path: Path) -> dict[str, Any]:
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"configuration file {path}: {exc}") from exc
    values: dict[str, Any] = {}
    fields = _scalar_fields()
    for key, value in document.items():
        if key == "models":
            values["models"] = _models(value)
        elif key in fields:
            values[key] = _coerce(key, value)
        else:
            raise SettingsError(f"configuration file {path}: unknown setting {key!r}")
    return values


def _coerce(name: str, raw: Any) -> Any:
    kind = _scalar_fields()[name]
    optional = isinstance(kind, types.UnionType) and type(None) in typing.get_args(kind)
    if optional:
        kind = next(a for a in typing.get_args(kind) if a is not type(None))
        if raw == "":
            return None
    try:
        if kind == tuple[str, ...]:
            items = raw.split(",") if isinstance(raw, str) else list(raw)
            return tuple(str(item).strip() for item in items if str(item).strip())
        if kind is int and not isinstance(raw, bool):
            return int(raw)
        if kind is float and not isinstance(raw, bool):
            return float(raw)
        if kind is str and isinstance(raw, str):
            return raw
    except (ValueError, TypeError):
        pass
    raise SettingsError(
        f"setting {name} (env {ENV_PREFIX}{name.upper()}) must be {_describe(kind)}, got {raw!r}"
    )


def _describe(kind: Any) -> str:
    return {int: "a whole number", float: "a number", str: "text"}.get(
        kind, "a comma-separated list"
    )


def _models(tables: Any) -> tuple[ModelSpec, ...]:
    if not isinstance(tables, dict):
        raise SettingsError("configuration file: [models] must hold one table per model")
    specs = []
    for name, table in tables.items():
        try:
            sampling = table.get("sampling_params", sorted(SAMPLING_PARAMS))
            specs.append(
                ModelSpec(
                    name=name,
                    context_window=int(table["context_window"]),
                    max_output=int(table["max_output"]),
                    encoding=str(table.get("encoding", "o200k_base")),
                    default_reserve=int(
                        table.get("default_reserve", min(4096, int(table["max_output"])))
                    ),
                    max_tokens_param=str(table.get("max_tokens_param", "max_tokens")),
                    sampling_params=frozenset(sampling),
                )
            )
        except KeyError as missing:
            raise SettingsError(f"model {name!r}: {missing.args[0]} is required") from None
        except (TypeError, ValueError, AttributeError, InvalidInput) as exc:
            raise SettingsError(f"model {name!r}: {exc}") from None
    return tuple(specs)
