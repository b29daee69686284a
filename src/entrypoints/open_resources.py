"""What a container has opened (a database pool, provider and Twilio HTTP clients, the Redis
pool), so that a process releases on exit exactly that: closing a gateway it never built would
first build it, importing the provider's SDK, for nothing.

dependency-injector's `Singleton` does not say whether it was built (only a `Resource` does, and
an async `Resource` makes every provider that depends on it async), so the builders say it here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable


class OpenResources:
    def __init__(self) -> None:
        self._closers: list[Callable[[], Awaitable[None]]] = []

    def opened(self, close: Callable[[], Awaitable[None]]) -> None:
        """Something was opened; awaiting `close()` releases it."""
        self._closers.append(close)

    async def close(self) -> None:
        """Release what was opened, the last opened first: what uses a pool goes before the
        pool. Each is released once, however often this is called."""
        while self._closers:
            await self._closers.pop()()
