"""Turns that belong to the service: started for a caller who need not stay, followed, cancelled.

`RunInBackground` takes any turn (the events of `SendMessage`, or of any use case that claims a
chat and yields `Accepted` before the model's answer) and runs it in a task the service owns
(`BackgroundWork`): it runs to its end whatever its caller does, its events go to the
`TurnEventLog` (ids 1, 2, …, then its end), and shutdown drains it like every task the service
owns (a grace period, then it is cancelled: its claim released, nothing stored).

`GetTurn`, `WatchTurn` and `CancelTurn` answer for a turn by its request id on any replica that
shares the log. A turn the log does not know (never a background turn, or ended long ago) is
looked up in the chat: a stored turn counts as completed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from dataclasses import dataclass

from chatservice.application.background import BackgroundWork
from chatservice.application.ids import new_id
from chatservice.application.live_turns import (
    CANCELLED,
    LoggedDelta,
    TurnError,
    TurnEventLog,
    TurnKey,
    TurnProgress,
    TurnRecorder,
    TurnState,
)
from chatservice.application.ports import ChatRepository, StoredTurn
from chatservice.application.turn_events import Accepted, Completed, Delta, TurnEvent
from chatservice.domain.chat import Message, validate_idempotency_key, validate_user_id
from chatservice.domain.errors import (
    ChatServiceError,
    InvalidInput,
    TurnEnded,
    TurnEventsExpired,
    TurnNotFound,
)

log = logging.getLogger(__name__)

#: Why a turn stopped before its end, as its readers are told.
CANCELLED_BY_REQUEST = TurnError(CANCELLED, "the turn was cancelled at the caller's request")
CANCELLED_BY_SHUTDOWN = TurnError(
    CANCELLED, "the service shut down before the turn ended; nothing was stored, send it again"
)
LOST = TurnError(
    "turn_lost", "the replica running the turn stopped before it ended; nothing was stored"
)
INTERNAL = TurnError("internal", "internal error")


@dataclass(frozen=True)
class BackgroundTurn:
    """A turn handed to the service: its request id, and its state when the caller was answered
    (`RUNNING`, or `COMPLETED` for a retry of a stored request)."""

    request_id: str
    state: TurnState


class RunInBackground:
    def __init__(self, turn_log: TurnEventLog, work: BackgroundWork) -> None:
        self._log = turn_log
        self._work = work

    async def __call__(
        self,
        user_id: str,
        chat_id: str,
        idempotency_key: str | None,
        start_turn: Callable[[str], AsyncGenerator[TurnEvent, None]],
    ) -> BackgroundTurn:
        """Run in the background the turn `start_turn(request_id)` starts, its request id the
        caller's idempotency key or a new one, and return once it is under way (`Accepted`:
        `RUNNING`), or already stored (a retry of a completed request: `COMPLETED`). A retry of
        a request still running returns `RUNNING` at once and starts nothing.

        Raises what the turn raises before it is under way (a refusal: `InvalidInput`,
        `RateLimited`, `ChatNotFound`, `ChatEnded`, `TurnInProgress`, `MessageTooLong`,
        `IdempotencyKeyReused`, `StorageUnavailable`); from then on the turn belongs to the
        service and its outcome goes to the log. The caller going away changes nothing.
        """
        request_id = idempotency_key or new_id()
        turn = TurnKey(chat_id, request_id)
        known = await self._log.progress(turn)
        if known is not None and known.user_id == user_id and known.state is TurnState.RUNNING:
            return BackgroundTurn(request_id, TurnState.RUNNING)
        under_way: asyncio.Future[TurnState] = asyncio.get_running_loop().create_future()
        # Read even when the caller has gone: a refusal nobody hears is not an error to log.
        under_way.add_done_callback(lambda done: done.cancelled() or done.exception())
        self._work.start(
            _BackgroundTurn(self._log, self._work, user_id, turn).run(
                start_turn(request_id), under_way
            ),
            name=f"background turn {request_id}",
        )
        # Shielded: the caller leaving must not cancel the turn through the future.
        return BackgroundTurn(request_id, await asyncio.shield(under_way))


class _BackgroundTurn:
    def __init__(
        self, turn_log: TurnEventLog, work: BackgroundWork, user_id: str, turn: TurnKey
    ) -> None:
        self._log = turn_log
        self._work = work
        self._user_id = user_id
        self._turn = turn
        self._recorder: TurnRecorder | None = None
        self._asked_to_cancel = False

    async def run(
        self, events: AsyncGenerator[TurnEvent, None], under_way: asyncio.Future[TurnState]
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        watcher: asyncio.Task[None] | None = None
        outcome: tuple[TurnState, TurnError | None] = (TurnState.FAILED, INTERNAL)
        try:
            async with aclosing(events) as stream:
                async for event in stream:
                    if isinstance(event, Accepted):
                        self._recorder = await self._log.begin(self._turn, self._user_id)
                        watcher = asyncio.create_task(self._cancel_when_asked(task))
                        under_way.set_result(TurnState.RUNNING)
                    elif isinstance(event, Delta) and self._recorder is not None:
                        self._recorder.delta(event.text)
                    elif isinstance(event, Completed):
                        outcome = (TurnState.COMPLETED, None)
                        if not under_way.done():  # a retry of a stored turn
                            under_way.set_result(TurnState.COMPLETED)
                        break
            if not under_way.done():
                under_way.set_exception(RuntimeError("the turn ended without completing"))
        except asyncio.CancelledError:
            # A cancel that arrives as the turn completes finds it stored: it stays completed.
            if outcome[0] is not TurnState.COMPLETED:
                why = CANCELLED_BY_REQUEST if self._asked_to_cancel else CANCELLED_BY_SHUTDOWN
                outcome = (TurnState.CANCELLED, why)
            if not under_way.done():
                under_way.cancel()
            raise
        except Exception as error:
            if not under_way.done():
                under_way.set_exception(error)
                return
            if isinstance(error, ChatServiceError):
                outcome = (TurnState.FAILED, TurnError(error.code, error.message))
            else:
                log.exception("a background turn failed unexpectedly")
        finally:
            if watcher is not None:
                watcher.cancel()
            if self._recorder is not None:
                await self._work.despite_cancellation(self._recorder.end(*outcome))

    async def _cancel_when_asked(self, task: asyncio.Task[None]) -> None:
        assert self._recorder is not None
        await self._recorder.cancel_requested()
        self._asked_to_cancel = True
        task.cancel()


@dataclass(frozen=True)
class TurnOutcome:
    """A turn as its status reports it: running, or how it ended; the stored reply of a
    completed turn; why a failed or cancelled one ended."""

    state: TurnState
    reply: Message | None = None
    error: TurnError | None = None


@dataclass(frozen=True)
class Failed:
    """The end of a turn that failed or was cancelled: nothing of it is stored."""

    code: str
    message: str


@dataclass(frozen=True)
class NumberedEvent:
    """One event of a turn as its readers get it, with its id."""

    id: int
    event: Delta | Completed | Failed


class _TurnLookup:
    """What `GetTurn`, `WatchTurn` and `CancelTurn` share: the log, then the chat."""

    def __init__(self, turn_log: TurnEventLog, repository: ChatRepository) -> None:
        self._log = turn_log
        self._repository = repository

    async def _progress(self, user_id: str, turn: TurnKey) -> TurnProgress | None:
        validate_user_id(user_id)
        validate_idempotency_key(turn.request_id)
        progress = await self._log.progress(turn)
        return progress if progress is not None and progress.user_id == user_id else None

    async def _stored(self, user_id: str, turn: TurnKey) -> StoredTurn:
        """The committed turn; `ChatNotFound` for a chat not the user's, else `TurnNotFound`."""
        stored = await self._repository.find_turn(user_id, turn.chat_id, turn.request_id)
        if stored is None:
            raise TurnNotFound(turn.request_id)
        return stored


class GetTurn(_TurnLookup):
    async def __call__(self, user_id: str, chat_id: str, request_id: str) -> TurnOutcome:
        """The turn's state, with its stored reply once completed. Raises `InvalidInput`,
        `ChatNotFound` (a chat not the user's), `TurnNotFound`, `StorageUnavailable`."""
        turn = TurnKey(chat_id, request_id)
        progress = await self._progress(user_id, turn)
        if progress is not None and progress.state is not TurnState.COMPLETED:
            return TurnOutcome(progress.state, error=progress.error)
        return TurnOutcome(TurnState.COMPLETED, (await self._stored(user_id, turn)).reply)


class WatchTurn(_TurnLookup):
    async def __call__(
        self, user_id: str, chat_id: str, request_id: str, after: int = 0
    ) -> AsyncGenerator[NumberedEvent, None]:
        """The turn's events with ids above `after`, live, ending with `Completed` (the stored
        turn) or `Failed`. Checked before it is returned: raises `InvalidInput`, `ChatNotFound`,
        `TurnNotFound`, and `TurnEventsExpired` for a turn the log no longer knows, asked
        after an event (its events from 0 are its stored reply in one delta, then the end).
        """
        if after < 0:
            raise InvalidInput("the last event id must be 0 or more")
        turn = TurnKey(chat_id, request_id)
        if await self._progress(user_id, turn) is not None:
            return self._live(user_id, turn, after)
        stored = await self._stored(user_id, turn)
        if after > 0:
            raise TurnEventsExpired(request_id, after)
        return _replayed(chat_id, stored)

    async def _live(
        self, user_id: str, turn: TurnKey, after: int
    ) -> AsyncGenerator[NumberedEvent, None]:
        last = after
        async for event in self._log.events(turn, after):
            last = event.id
            if isinstance(event, LoggedDelta):
                yield NumberedEvent(event.id, Delta(event.text))
            elif event.state is TurnState.COMPLETED:
                stored = await self._stored(user_id, turn)
                yield NumberedEvent(event.id, _completed(turn.chat_id, stored))
                return
            else:
                error = event.error or INTERNAL
                yield NumberedEvent(event.id, Failed(error.code, error.message))
                return
        # No end: the turn had ended before `after`, or the log forgot it mid-turn (its replica
        # died, so it never ends).
        progress = await self._log.progress(turn)
        if progress is None or progress.state is TurnState.RUNNING:
            yield NumberedEvent(last + 1, Failed(LOST.code, LOST.message))


class CancelTurn(_TurnLookup):
    async def __call__(self, user_id: str, chat_id: str, request_id: str) -> None:
        """Ask the running turn to stop, wherever it runs: it stores nothing and ends
        cancelled. Raises `InvalidInput`, `ChatNotFound`, `TurnNotFound`, and `TurnEnded` for
        a turn that has already ended."""
        turn = TurnKey(chat_id, request_id)
        validate_user_id(user_id)
        validate_idempotency_key(request_id)
        asked = await self._log.cancel(turn, user_id)
        if asked is None:
            await self._stored(user_id, turn)
            raise TurnEnded(request_id, TurnState.COMPLETED)
        if asked.state is not TurnState.RUNNING:
            raise TurnEnded(request_id, asked.state)


def _completed(chat_id: str, stored: StoredTurn) -> Completed:
    return Completed(chat_id, stored.user_message, stored.reply)


async def _replayed(chat_id: str, stored: StoredTurn) -> AsyncGenerator[NumberedEvent, None]:
    yield NumberedEvent(1, Delta(stored.reply.content))
    yield NumberedEvent(2, _completed(chat_id, stored))
