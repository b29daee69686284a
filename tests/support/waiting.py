"""Waiting for something to happen, never for a fixed time: a test must not depend on how fast
the machine is."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable

#: Long enough for any condition that is coming at all, on a machine as busy as CI gets.
GENEROUS_SECONDS = 30.0


async def eventually(
    condition: Callable[[], bool | Awaitable[bool]],
    what: str,
    within: float = GENEROUS_SECONDS,
) -> None:
    """Return as soon as `condition()` holds; fail saying `what` did not happen after `within`
    seconds. `condition` may be a coroutine function (e.g. one that reads the database)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        holds = condition()
        if inspect.isawaitable(holds):
            holds = await holds
        if holds:
            return
        if loop.time() > deadline:
            raise AssertionError(f"{what}: not after {within} s")
        await asyncio.sleep(0.01)
