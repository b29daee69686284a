"""The settings that must agree with each other, checked once every one is valid on its own:
a configuration that could never serve a chat is refused at start-up, not at the first turn."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chatservice.domain.errors import InvalidInput
from chatservice.entrypoints.settings.errors import SettingsError, check
from chatservice.entrypoints.settings.registry import ONE_PROVIDER_SETTINGS, provider_tables
from chatservice.entrypoints.settings.token_tables import TokenTableError, check_distinct

if TYPE_CHECKING:
    from chatservice.entrypoints.settings.catalogue import Settings


def check_together(settings: Settings) -> None:
    """`SettingsError` naming the first setting that disagrees with another."""
    check(
        bool(settings.twilio_account_sid) == bool(settings.twilio_auth_token),
        "twilio_account_sid",
        "and twilio_auth_token must be set together (or neither, to leave WhatsApp off)",
    )
    if settings.providers:
        defaults = type(settings).model_fields
        for name in ONE_PROVIDER_SETTINGS:
            check(
                getattr(settings, name) == defaults[name].default,
                name,
                "is the shorthand for one provider serving every model: with [providers] "
                "tables, set it in a provider's table instead",
            )
    _check_providers(settings)
    try:
        check_distinct(settings.tokens, settings.auth_tokens)
    except TokenTableError as error:
        raise SettingsError(str(error)) from None
    try:
        registry = settings.model_registry()
    except InvalidInput as error:
        raise SettingsError(str(error)) from None
    try:
        registry.servable(settings.model)
    except InvalidInput as error:
        check(False, "model", f"cannot serve a chat: {error}")


def _check_providers(settings: Settings) -> None:
    # A turn outliving its claim could be overtaken by another turn on the same chat.
    if not settings.providers:  # the shorthand's own settings are named
        check(
            settings.openai_turn_timeout < settings.claim_ttl_seconds,
            "openai_turn_timeout",
            "must be shorter than claim_ttl_seconds",
        )
        check(
            all(table.missing_key() is None for table in provider_tables(settings).values()),
            "openai_api_key",
            "is required for OpenAI's own endpoint (set it, or OPENAI_API_KEY, or a base URL)",
        )
    for name, table in settings.providers.items():
        if table.turn_timeout >= settings.claim_ttl_seconds:
            raise SettingsError(
                f"provider {name!r}: turn_timeout must be shorter than claim_ttl_seconds"
            )
        if missing_key := table.missing_key():
            raise SettingsError(f"provider {name!r} {missing_key}")
