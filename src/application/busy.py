"""Waiting while a chat is busy with another turn, for callers that would rather wait than refuse.

The wait never needs to outlast `ChatPolicy.claim_ttl_seconds`: by then the turn that holds the
chat has landed, let go, or lost its claim (a crashed replica), so the chat can be claimed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from chatservice.domain.errors import TurnInProgress

T = TypeVar("T")


def _always(busy: TurnInProgress) -> bool:
    return True


async def wait_while_busy(
    attempt: Callable[[], Awaitable[T]],
    limit_seconds: float,
    pauses: Sequence[float],
    waits_for: Callable[[TurnInProgress], bool] = _always,
) -> T:
    """What `attempt()` returns, trying again while it raises a `TurnInProgress` that `waits_for`
    accepts, for up to `limit_seconds`. The pauses between tries are `pauses` in turn, the last
    one repeated. Raises the last `TurnInProgress` when the time is up (or one it does not
    accept at once)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_seconds
    schedule = iter(pauses)
    pause = next(schedule)
    while True:
        try:
            return await attempt()
        except TurnInProgress as busy:
            if not waits_for(busy) or loop.time() >= deadline:
                raise
        await asyncio.sleep(pause)
        pause = next(schedule, pause)
