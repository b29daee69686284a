"""`RedisTurnRateLimiter`: the per-user turn limit counted in Redis, shared by every worker and
replica that uses the same Redis.

Built on the `limits` library: its moving-window strategy keeps one Redis list per user of the
last `turns_per_minute` turns' times, checked and appended by one Lua script, so two processes
admitting the same user at once never both take the last slot. The times are each process's own
wall clock (`time.time()`), so replicas on different hosts need their clocks in sync (NTP) for
the window to be a minute everywhere.
"""

from __future__ import annotations

import time

import coredis
from limits import RateLimitItemPerMinute
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError

from chatservice.application.rate_limit import LimitStoreUnreachable, limit_reached

#: The namespace of the limit's keys within `key_prefix`.
_TURNS = "turns"


class RedisTurnRateLimiter:
    """At most `turns_per_minute` turns per user in any sliding 60-second window, counted in the
    Redis at `url` (`redis://host:port/db`, `rediss://…`, `unix://…`) under `key_prefix`
    (0: no limit), through `pool` (the process's one pool for that Redis, whose timeouts bound
    every answer: a turn waits on it). Raises `LimitStoreUnreachable` when Redis does not answer.
    """

    def __init__(
        self, url: str, pool: coredis.ConnectionPool, turns_per_minute: int, key_prefix: str
    ) -> None:
        self._limit = RateLimitItemPerMinute(turns_per_minute) if turns_per_minute > 0 else None
        # The URL tells the storage which kind of Redis it is (one server, not a cluster).
        storage = RedisStorage(
            f"async+{url}",
            connection_pool=pool,  # type: ignore[arg-type]  # passed on to coredis.Redis
            key_prefix=key_prefix,
            wrap_exceptions=True,
        )
        self._strategy = MovingWindowRateLimiter(storage)

    async def admit(self, user_id: str) -> None:
        if self._limit is None:
            return
        try:
            if await self._strategy.hit(self._limit, _TURNS, user_id):
                return
            window = await self._strategy.get_window_stats(self._limit, _TURNS, user_id)
        except StorageError as error:
            raise LimitStoreUnreachable(f"Redis: {error.storage_error}") from error
        raise limit_reached(self._limit.amount, window.reset_time - time.time())
