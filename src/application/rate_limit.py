"""The per-user limit on turns: a port, and the rule for when its shared store cannot be reached.

Two adapters implement `TurnRateLimiter`: one counts in this process's memory (each worker and
replica on its own), one in Redis (all of them together, when `redis_url` is set).
`LocalWhileSharedUnreachable` puts the Redis one first and the memory one behind it: a Redis
outage degrades the limit to one per process instead of refusing every turn (docs/scaling.md).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Protocol

from chatservice.domain.errors import RateLimited

log = logging.getLogger(__name__)

#: How long turns are counted per process after the shared store failed, before it is tried again.
SHARED_RETRY_SECONDS = 5.0


class TurnRateLimiter(Protocol):
    """At most `turns_per_minute` turns per user in any sliding 60-second window (0: no limit)."""

    async def admit(self, user_id: str) -> None:
        """Count a turn for `user_id`, or raise `RateLimited` whose `retry_after_seconds` (at
        least 1) says when the oldest counted turn leaves the window. A turn refused is not
        counted. A limiter whose count lives elsewhere raises `LimitStoreUnreachable` when it
        cannot reach it."""


def limit_reached(turns_per_minute: int, seconds_until_free: float) -> RateLimited:
    """The refusal of a user's turn over the limit; a slot frees in `seconds_until_free`
    (`Retry-After`, rounded up to whole seconds, at least 1)."""
    retry_after = max(1, math.ceil(seconds_until_free))
    return RateLimited(
        f"at most {turns_per_minute} messages a minute; retry in {retry_after} s", retry_after
    )


class LimitStoreUnreachable(Exception):
    """The store a shared limiter counts in did not answer; the turn was neither counted nor
    refused."""


class LimitStoreObserver(Protocol):
    def store_unreachable(self) -> None:
        """The shared store failed a turn's count; the turn was counted per process instead."""


class LocalWhileSharedUnreachable:
    """The `shared` limit while its store answers; the `local` one while it does not.

    After a failure the store is left alone for `retry_seconds`, so that an unreachable Redis
    costs one connection attempt per interval, not one per turn. A warning is logged when the
    limit degrades (and at INFO when it is shared again); every failure is reported to `observer`.
    """

    def __init__(
        self,
        shared: TurnRateLimiter,
        local: TurnRateLimiter,
        observer: LimitStoreObserver,
        clock: Callable[[], float] = time.monotonic,
        retry_seconds: float = SHARED_RETRY_SECONDS,
    ) -> None:
        self._shared = shared
        self._local = local
        self._observer = observer
        self._clock = clock
        self._retry_seconds = retry_seconds
        #: When the shared store may be tried again; None while it answers.
        self._retry_at: float | None = None

    async def admit(self, user_id: str) -> None:
        if self._retry_at is not None and self._clock() < self._retry_at:
            return await self._local.admit(user_id)
        try:
            await self._shared.admit(user_id)
        except LimitStoreUnreachable as error:
            self._observer.store_unreachable()
            if self._retry_at is None:
                log.warning("turn limit counted per process: the shared store failed (%s)", error)
            self._retry_at = self._clock() + self._retry_seconds
            return await self._local.admit(user_id)
        if self._retry_at is not None:
            log.info("turn limit shared again: its store answers")
            self._retry_at = None
