"""`MemoryTurnRateLimiter`: the per-user turn limit counted in this process's memory.

Each process counts on its own: behind N workers or replicas without sticky routing a user may
get up to N times the limit (the Redis adapter shares one count among them all). It is the limiter
without `redis_url`, and the one that takes over while Redis cannot be reached.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from chatservice.application.rate_limit import limit_reached

#: Users tracked at most; the least recently seen are forgotten first.
_MAX_USERS = 100_000


class MemoryTurnRateLimiter:
    """At most `turns_per_minute` turns per user in any sliding 60-second window (0: no limit)."""

    def __init__(self, turns_per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._limit = turns_per_minute
        self._clock = clock
        self._recent: dict[str, deque[float]] = {}

    async def admit(self, user_id: str) -> None:
        """Count a turn for `user_id`, or raise `RateLimited` saying when to retry."""
        if self._limit <= 0:
            return
        now = self._clock()
        recent = self._recent.pop(user_id, None) or deque()
        while recent and recent[0] <= now - 60:
            recent.popleft()
        if len(recent) >= self._limit:
            self._recent[user_id] = recent
            raise limit_reached(self._limit, recent[0] + 60 - now)
        recent.append(now)
        self._recent[user_id] = recent  # re-inserted: dict order is least recently seen first
        if len(self._recent) > _MAX_USERS:
            del self._recent[next(iter(self._recent))]
