"""`InProcessTurnEventLog`: the live events of the turns this process runs, in its memory.

The default without `redis_url`: one process sees its own turns only. A running turn keeps its
deltas in a list that readers index into; each new event wakes the readers waiting for one
without waiting for any of them. An ended turn keeps only its summary (`EndedTurn`), and is
forgotten `retention_seconds` after it ended, so memory holds the running turns and those that
ended within the retention time.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Callable

from chatservice.application.live_turns import (
    EndedTurn,
    LoggedDelta,
    LoggedEvent,
    TurnError,
    TurnKey,
    TurnProgress,
    TurnState,
    replay_ended,
)


class _Turn:
    """One turn's record, and its recorder."""

    def __init__(self, user_id: str) -> None:
        self.user_id = user_id
        self.deltas: list[str] = []
        self.ended: EndedTurn | None = None
        #: Set (and replaced) on every new event, for the readers waiting for one.
        self.recorded = asyncio.Event()
        self.cancelled = asyncio.Event()
        self.on_end: Callable[[_Turn], None] = lambda _: None

    @property
    def progress(self) -> TurnProgress:
        if self.ended is None:
            return TurnProgress(self.user_id, TurnState.RUNNING)
        return TurnProgress(self.user_id, self.ended.state, self.ended.error)

    def delta(self, text: str) -> None:
        if self.ended is None:
            self.deltas.append(text)
            self._wake_readers()

    async def end(self, state: TurnState, error: TurnError | None = None) -> None:
        if self.ended is None:
            self.ended = EndedTurn.of(state, error, self.deltas)
            self.deltas = []
            self._wake_readers()
            self.on_end(self)

    async def cancel_requested(self) -> None:
        await self.cancelled.wait()

    def _wake_readers(self) -> None:
        self.recorded.set()
        self.recorded = asyncio.Event()

    async def events(self, after: int) -> AsyncIterator[LoggedEvent]:
        position = after
        while True:
            if self.ended is not None:
                for event in replay_ended(self.ended, position):
                    yield event
                return
            if position < len(self.deltas):
                position += 1
                yield LoggedDelta(position, self.deltas[position - 1])
            else:
                await self.recorded.wait()


class InProcessTurnEventLog:
    """The turns of this process, each ended one kept for `retention_seconds` on `clock`."""

    def __init__(
        self, retention_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._retention_seconds = retention_seconds
        self._clock = clock
        self._turns: dict[TurnKey, _Turn] = {}
        #: The ended turns in the order they ended (so in the order they expire), and when.
        self._ended: deque[tuple[float, TurnKey, _Turn]] = deque()

    async def begin(self, turn: TurnKey, user_id: str) -> _Turn:
        self._forget_expired()
        record = _Turn(user_id)
        record.on_end = lambda ended: self._ended.append((self._clock(), turn, ended))
        self._turns[turn] = record
        return record

    async def progress(self, turn: TurnKey) -> TurnProgress | None:
        record = self._known(turn)
        return None if record is None else record.progress

    async def events(self, turn: TurnKey, after: int) -> AsyncIterator[LoggedEvent]:
        record = self._known(turn)
        if record is not None:
            async for event in record.events(after):
                yield event

    async def cancel(self, turn: TurnKey, user_id: str) -> TurnProgress | None:
        record = self._known(turn)
        if record is None or record.user_id != user_id:
            return None
        if record.ended is None:
            record.cancelled.set()
        return record.progress

    def _known(self, turn: TurnKey) -> _Turn | None:
        self._forget_expired()
        return self._turns.get(turn)

    def _forget_expired(self) -> None:
        expired_before = self._clock() - self._retention_seconds
        while self._ended and self._ended[0][0] <= expired_before:
            _, turn, record = self._ended.popleft()
            # The key may hold a later turn by now (a retry under the same key).
            if self._turns.get(turn) is record:
                del self._turns[turn]
