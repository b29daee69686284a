"""Jobs one replica at a time does (`Leases`). Contract: `tests/contract/test_leases.py`."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class Leases(Protocol):
    """Named leases that one holder at a time has until they expire, across every replica that
    shares the store: who does a job that must not run twice at once."""

    async def acquire(self, name: str, holder: str, now: datetime, ttl_seconds: float) -> bool:
        """Hold `name` until `now + ttl_seconds` and return `True` if it is free, expired at
        `now`, or held by `holder` already (a renewal); otherwise `False`, changing nothing."""
