"""The OpenAI Responses API's responses once made (`CreateResponse`): read, followed, cancelled,
deleted, by their record (`ResponseStore`) and their turn (`GetTurn`, `WatchTurn`,
`CancelTurn`)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass
from datetime import timedelta

from chatservice.application.background_turns import (
    CancelTurn,
    GetTurn,
    NumberedEvent,
    TurnOutcome,
    WatchTurn,
)
from chatservice.application.clock import Clock, utc_now
from chatservice.application.live_turns import TurnError, TurnState
from chatservice.application.policy import ChatPolicy
from chatservice.application.ports import ChatRepository, ResponseStore
from chatservice.domain.chat import Message, validate_user_id
from chatservice.domain.errors import ChatNotFound, InvalidInput, TurnInProgress, TurnNotFound
from chatservice.domain.responses import ResponseNotFound, ResponseRecord

#: How a response whose turn the service no longer knows (its replica died before it was
#: stored, or it failed long ago) reads.
LOST = TurnError("response_lost", "the response's turn ended without being stored")


@dataclass(frozen=True)
class ResponseView:
    """A response as it reads: its record and its turn's outcome (the stored reply once it
    completed)."""

    record: ResponseRecord
    outcome: TurnOutcome

    @property
    def reply(self) -> Message | None:
        return self.outcome.reply


class _Responses:
    """What the use cases on a stored response share: finding its record."""

    def __init__(self, store: ResponseStore) -> None:
        self._store = store

    async def _record(self, user_id: str, response_id: str) -> ResponseRecord:
        validate_user_id(user_id)
        record = await self._store.find_response(user_id, response_id)
        if record is None:
            raise ResponseNotFound(response_id)
        return record


class GetResponse(_Responses):
    def __init__(
        self,
        store: ResponseStore,
        get_turn: GetTurn,
        repository: ChatRepository,
        policy: ChatPolicy,
        clock: Clock = utc_now,
    ) -> None:
        super().__init__(store)
        self._get_turn = get_turn
        self._repository = repository
        self._policy = policy
        self._clock = clock

    async def __call__(self, user_id: str, response_id: str) -> ResponseView:
        """The response and its turn's outcome. Raises `InvalidInput`, `ResponseNotFound`."""
        record = await self._record(user_id, response_id)
        return await self.view(record)

    async def view(self, record: ResponseRecord) -> ResponseView:
        try:
            try:
                outcome = await self._get_turn(record.user_id, record.chat_id, record.request_id)
            except TurnNotFound:
                outcome = await self._unstored(record)
        except ChatNotFound as error:
            raise ResponseNotFound(record.id) from error
        return ResponseView(record, outcome)

    async def _unstored(self, record: ResponseRecord) -> TurnOutcome:
        """A response whose turn is neither stored nor in the log (not a background one):
        running while its turn holds the chat, or may yet take it (its record is stored before
        the turn claims, which waits behind another turn for up to a claim's lifetime); else
        lost (its replica died before the turn was stored)."""
        now = self._clock()
        try:
            await self._repository.get_settled_chat(record.user_id, record.chat_id, now)
        except TurnInProgress as busy:
            if busy.idempotency_key == record.request_id:
                return TurnOutcome(TurnState.RUNNING)
        waiting = timedelta(seconds=self._policy.claim_ttl_seconds)
        if now < record.created_at + waiting:
            return TurnOutcome(TurnState.RUNNING)
        return TurnOutcome(TurnState.FAILED, error=LOST)


class DeleteResponse(_Responses):
    async def __call__(self, user_id: str, response_id: str) -> None:
        """Forget the response; its conversation keeps its messages. Raises `InvalidInput`,
        `ResponseNotFound`."""
        validate_user_id(user_id)
        if not await self._store.delete_response(user_id, response_id):
            raise ResponseNotFound(response_id)


class CancelResponse(_Responses):
    def __init__(
        self, store: ResponseStore, cancel_turn: CancelTurn, watch_turn: WatchTurn, get: GetResponse
    ) -> None:
        super().__init__(store)
        self._cancel_turn = cancel_turn
        self._watch_turn = watch_turn
        self._get = get

    async def __call__(self, user_id: str, response_id: str) -> ResponseView:
        """Cancel a background response that is running and return it once it has ended.
        Raises `InvalidInput` (a response not made in the background), `ResponseNotFound`,
        `TurnEnded` (it has ended already)."""
        record = await self._record(user_id, response_id)
        if not record.background:
            raise InvalidInput("only a response made with background true can be cancelled")
        await self._cancel_turn(user_id, record.chat_id, record.request_id)
        # Its end comes once the replica running it has stopped it: nothing is stored.
        events = await self._watch_turn(user_id, record.chat_id, record.request_id)
        async with aclosing(events) as stream:
            async for _ in stream:
                pass
        return await self._get.view(record)


class WatchResponse(_Responses):
    def __init__(self, store: ResponseStore, watch_turn: WatchTurn) -> None:
        super().__init__(store)
        self._watch_turn = watch_turn

    async def __call__(
        self, user_id: str, response_id: str, after: int = 0
    ) -> tuple[ResponseRecord, AsyncGenerator[NumberedEvent, None]]:
        """The response, and its turn's events after the turn's event `after` (`WatchTurn`)."""
        record = await self._record(user_id, response_id)
        events = await self._watch_turn(user_id, record.chat_id, record.request_id, after)
        return record, events


class ListInputItems(_Responses):
    def __init__(self, store: ResponseStore, repository: ChatRepository) -> None:
        super().__init__(store)
        self._repository = repository

    async def __call__(self, user_id: str, response_id: str) -> list[Message]:
        """The response's input as stored: its user message, once its turn is stored (nothing
        before). Raises `InvalidInput`, `ResponseNotFound`."""
        record = await self._record(user_id, response_id)
        try:
            stored = await self._repository.find_turn(user_id, record.chat_id, record.request_id)
        except ChatNotFound as error:
            raise ResponseNotFound(response_id) from error
        return [] if stored is None else [stored.user_message]
