"""The providers the settings configure and the model registry they make.

A configuration names its providers as `[providers.NAME]` tables, or, without any, describes the
one provider that serves every model with the Part I settings (`gateway`, `openai_*`,
`fake_chunk_delay_ms`): the shorthand for a single provider table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chatservice.domain.errors import InvalidInput
from chatservice.domain.models import ModelRegistry, ModelSpec
from chatservice.entrypoints.settings.config_tables import ProviderTable, is_builtin

if TYPE_CHECKING:
    from chatservice.entrypoints.settings.catalogue import Settings

#: The Part I settings of the one provider that serves every model, left unset when the file
#: has `[providers]` tables.
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


def provider_tables(settings: Settings) -> dict[str, ProviderTable]:
    """Every configured provider by name: the `[providers]` tables, or the one provider the
    Part I settings describe, named after its `gateway`."""
    if settings.providers:
        return settings.providers
    if settings.gateway == "fake":
        return {"fake": ProviderTable(kind="fake", chunk_delay_ms=settings.fake_chunk_delay_ms)}
    openai = ProviderTable(
        kind="openai",
        base_url=settings.openai_base_url,
        api_key=settings.openai_api_key,
        organization=settings.openai_organization,
        project=settings.openai_project,
        connect_timeout=settings.openai_connect_timeout,
        idle_timeout=settings.openai_idle_timeout,
        turn_timeout=settings.openai_turn_timeout,
        max_retries=settings.openai_max_retries,
    )
    return {"openai": openai}


def sole_provider(settings: Settings) -> str | None:
    """The provider that serves every model, whichever provider the model names (the Part I
    shorthand); None with `[providers]` tables."""
    return None if settings.providers else settings.gateway


def model_registry(settings: Settings) -> ModelRegistry:
    """The registry the settings make: the built-in models and the `[models]` tables, each
    served by a configured provider or by none. `InvalidInput` for a table that cannot be a
    model, a model of one's own that no configured provider serves, and fallbacks that name no
    servable model or lead back to where they started."""
    return ModelRegistry(
        custom=custom_models(settings),
        context_window_override=settings.context_window,
        providers=tuple(provider_tables(settings)),
        sole_provider=sole_provider(settings),
    )


def custom_models(settings: Settings) -> tuple[ModelSpec, ...]:
    """The `[models.NAME]` tables, as the model registry takes them."""
    for name, table in settings.models.items():
        if settings.providers and table.provider is None and not is_builtin(name):
            raise InvalidInput(
                f"model {name!r}: provider is required (the name of a [providers] table)"
            )
    return tuple(table.spec(name) for name, table in settings.models.items())
