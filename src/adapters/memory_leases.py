"""`InMemoryLeases`: the `Leases` contract in a dict, for one process (tests, experiments)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta


class InMemoryLeases:
    def __init__(self) -> None:
        #: Each lease held: its holder and when it expires.
        self._held: dict[str, tuple[str, datetime]] = {}
        self._lock = asyncio.Lock()

    async def acquire(self, name: str, holder: str, now: datetime, ttl_seconds: float) -> bool:
        async with self._lock:
            current = self._held.get(name)
            if current is not None and current[0] != holder and current[1] > now:
                return False
            self._held[name] = (holder, now + timedelta(seconds=ttl_seconds))
            return True
