"""What the container opened is released on exit: the last opened first, each once."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from chatservice.entrypoints.open_resources import OpenResources


async def test_what_was_opened_is_released_last_opened_first_and_once() -> None:
    released: list[str] = []

    def closer(name: str) -> Callable[[], Awaitable[None]]:
        async def close() -> None:
            released.append(name)

        return close

    resources = OpenResources()
    for name in ("engine", "redis pool", "turn log on the pool"):
        resources.opened(closer(name))
    await resources.close()
    await resources.close()

    assert released == ["turn log on the pool", "redis pool", "engine"]
