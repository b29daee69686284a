"""The live events of the turns the service runs for itself (background turns): a port, and the
rule for replaying a turn that has ended.

A turn's events get ids 1, 2, … : its deltas, then one end (completed, failed or cancelled).
Readers read them from a log, from any replica that shares it, while the turn runs and for a
while after it ended; the writer never waits for a reader. Two adapters implement
`TurnEventLog`: one in this process's memory, one in Redis Streams (`redis_url`), which every
replica shares.

Once a turn has ended its log keeps a summary instead of every event: the reply's text, the length
of each delta, and how it ended. Events replayed from the summary are coalesced (`replay_ended`):
a reader who had the events up to N gets the rest of the text in one delta whose id is the last
delta's, then the end with its own id, so ids keep increasing and the text adds up to the reply.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

#: The error code of a cancelled turn's end.
CANCELLED = "cancelled"


class TurnState(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class TurnKey:
    """A turn, by its chat and its request id (the turn's idempotency key, unique in its chat)."""

    chat_id: str
    request_id: str


@dataclass(frozen=True)
class TurnError:
    """Why a turn failed or was cancelled, as a caller is told: a code and a message."""

    code: str
    message: str


@dataclass(frozen=True)
class LoggedDelta:
    id: int
    text: str


@dataclass(frozen=True)
class LoggedEnd:
    """The last event of a turn: how it ended (never `RUNNING`); `error` unless it completed."""

    id: int
    state: TurnState
    error: TurnError | None = None


LoggedEvent = LoggedDelta | LoggedEnd


@dataclass(frozen=True)
class TurnProgress:
    """Where a turn is: running, or how it ended (`error` for a failed or cancelled turn)."""

    user_id: str
    state: TurnState
    error: TurnError | None = None


@dataclass(frozen=True)
class EndedTurn:
    """What the log keeps of a turn once it ended: how, the id of its end event, and for a
    completed turn the reply's text with each delta's length (in characters, in id order)."""

    state: TurnState
    error: TurnError | None
    end_id: int
    text: str = ""
    lengths: Sequence[int] = ()

    @classmethod
    def of(cls, state: TurnState, error: TurnError | None, deltas: Sequence[str]) -> EndedTurn:
        """The turn that recorded `deltas`, then ended as `state` says."""
        end_id = len(deltas) + 1
        if state is not TurnState.COMPLETED:
            return cls(state, error, end_id)
        return cls(state, error, end_id, "".join(deltas), [len(text) for text in deltas])


def replay_ended(ended: EndedTurn, after: int) -> list[LoggedEvent]:
    """The events after id `after` of a turn that ended, coalesced: what is left of a completed
    reply as one delta (with the last delta's id), then the end. A failed or cancelled turn
    gives only its end: its caller discards the deltas it had anyway."""
    if after >= ended.end_id:
        return []
    end = LoggedEnd(ended.end_id, ended.state, ended.error)
    deltas = len(ended.lengths)
    if after >= deltas:
        return [end]
    start = sum(ended.lengths[:after])
    return [LoggedDelta(deltas, ended.text[start:]), end]


class TurnRecorder(Protocol):
    """Where a running turn records its events, and hears that it is asked to stop."""

    def delta(self, text: str) -> None:
        """Record the next piece of the reply, as the next event. Never waits: not for a reader,
        nor for the log's store (a store that is slow or down is written to behind the turn)."""

    async def end(self, state: TurnState, error: TurnError | None = None) -> None:
        """Record how the turn ended (after every delta recorded before); readers get it, and
        the turn's outcome is kept for the log's retention time. Waits until it is written
        (bounded: a store that stays down loses it, which readers see as a lost turn)."""

    async def cancel_requested(self) -> None:
        """Return once someone, on any replica, asked to cancel the turn (`TurnEventLog.cancel`)."""


class TurnEventLog(Protocol):
    """The live events and status of turns, shared by every replica that uses the same log.

    A turn is known from `begin` until its outcome's retention time (at least ten minutes) after
    it ended; a running turn whose replica died is forgotten once its claim would have lapsed.
    Storage failures raise `StorageUnavailable`.
    """

    async def begin(self, turn: TurnKey, user_id: str) -> TurnRecorder:
        """Start recording `turn` of `user_id`, running; whatever was known of an earlier turn
        under the same key (one that failed, retried with the same idempotency key) is replaced.
        """

    async def progress(self, turn: TurnKey) -> TurnProgress | None:
        """Where `turn` is, or `None` when the log does not know it."""

    def events(self, turn: TurnKey, after: int) -> AsyncIterator[LoggedEvent]:
        """The turn's events with ids above `after`: those recorded, then the rest live as they
        are recorded, up to and including its end; coalesced once it has ended (`replay_ended`).
        A slow reader holds up nobody. Ends early, without the end event, when the log forgets
        the turn meanwhile (its replica died); yields nothing for a turn it does not know."""

    async def cancel(self, turn: TurnKey, user_id: str) -> TurnProgress | None:
        """Ask `turn` of `user_id` to stop, if it is running (its recorder hears it, wherever it
        runs, within a bounded time). Return its progress as it was when asked; `None` when the
        log does not know a turn of that user under that key."""
