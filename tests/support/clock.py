"""A clock a test moves forward: a claim can lapse without the test waiting out its TTL."""

from __future__ import annotations

from datetime import datetime, timedelta

from chatservice.application.clock import utc_now


class AdjustableClock:
    """The real UTC time plus an offset that only the test moves, so time still goes forward
    between calls (stored timestamps keep their order)."""

    def __init__(self) -> None:
        self._offset = timedelta()

    def __call__(self) -> datetime:
        return utc_now() + self._offset

    def advance(self, seconds: float) -> None:
        self._offset += timedelta(seconds=seconds)
