"""A per-user limit on turns, kept in this process's memory.

Each replica counts on its own: behind N replicas without sticky routing a user may get up to N
times the limit. That is the price of not adding a database round trip to every turn; see
docs/reliability.md.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

from chatservice.domain.errors import RateLimited

#: Users tracked at most; the least recently seen are forgotten first.
_MAX_USERS = 100_000


class TurnRateLimiter:
    """At most `turns_per_minute` turns per user in any sliding 60-second window (0: no limit)."""

    def __init__(self, turns_per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._limit = turns_per_minute
        self._clock = clock
        self._recent: dict[str, deque[float]] = {}

    def admit(self, user_id: str) -> None:
        """Count a turn for `user_id`, or raise `RateLimited` saying when to retry."""
        if self._limit <= 0:
            return
        now = self._clock()
        recent = self._recent.pop(user_id, None) or deque()
        while recent and recent[0] <= now - 60:
            recent.popleft()
        if len(recent) >= self._limit:
            self._recent[user_id] = recent
            retry_after = math.ceil(recent[0] + 60 - now)
            raise RateLimited(
                f"at most {self._limit} messages a minute; retry in {retry_after} s", retry_after
            )
        recent.append(now)
        self._recent[user_id] = recent  # re-inserted: dict order is least recently seen first
        if len(self._recent) > _MAX_USERS:
            del self._recent[next(iter(self._recent))]
