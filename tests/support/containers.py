"""The one way tests build the service: the container `chatservice serve` builds, for the test's
settings, with a provider overridden wherever the test needs a stand-in (an in-memory store, a
clock it moves, an engine it watches). No test wires a use case by hand."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from dependency_injector import providers

from chatservice.entrypoints.container import Container, build_container, close_resources
from chatservice.entrypoints.settings import Settings

Overrides = Mapping[str, providers.Provider[Any]]
T = TypeVar("T")


def service_container(overrides: Overrides | None = None, **settings: Any) -> Container:
    """The container for `Settings(**settings)`, its providers named in `overrides` replaced.

    These overrides are in place before anything is built: the start-up check already builds
    the chats' use case and its repository, so a store overridden later would not reach it."""
    return build_container(Settings(**settings), **(overrides or {}))


@asynccontextmanager
async def closed_after(container: Container) -> AsyncIterator[Container]:
    """`container` for the block; then what it opened is closed (pool, provider clients)."""
    try:
        yield container
    finally:
        await close_resources(container)


def provided(provider: providers.Provider[Any], kind: type[T]) -> T:
    """What `provider` gives, checked to be the `kind` of stand-in the test put there."""
    instance = provider()
    assert isinstance(instance, kind), f"{type(instance).__name__} is no {kind.__name__}"
    return instance
