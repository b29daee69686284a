"""Conversation control: a new reply to the last question, an edited last question, a fork.

Regenerate and edit are turns like sending a message (`turns.py`: claim, the model's answer,
one checked commit, nothing stored when anything fails, idempotency), which supersede in the
same commit what they replace. A fork is no turn: it copies a settled history into a new chat.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing

from chatservice.application.chat_window import ChatView, ChatWindow
from chatservice.application.clock import Clock, utc_now
from chatservice.application.ids import new_id
from chatservice.application.policy import ChatPolicy
from chatservice.application.ports import ChatRepository
from chatservice.application.turn_events import TurnEvent
from chatservice.application.turns import Turn
from chatservice.domain.chat import (
    IDEMPOTENCY_KEY_CHARS,
    Chat,
    validate_content,
    validate_idempotency_key,
    validate_user_id,
)
from chatservice.domain.errors import (
    ConcurrentUpdate,
    IdempotencyKeyReused,
    InvalidInput,
    MessageNotFound,
    NotLastUserMessage,
)
from chatservice.domain.fork import fork_of
from chatservice.domain.turn import Edit, Regenerate

#: Message ids are ours (UUIDs); anything much longer is no id of ours.
MESSAGE_ID_CHARS = IDEMPOTENCY_KEY_CHARS


def validate_message_id(message_id: str) -> str:
    if not 1 <= len(message_id) <= MESSAGE_ID_CHARS:
        raise InvalidInput(f"message_id must be 1 to {MESSAGE_ID_CHARS} characters")
    return message_id


def _check_caller(user_id: str, idempotency_key: str | None) -> None:
    validate_user_id(user_id)
    if idempotency_key is not None:
        validate_idempotency_key(idempotency_key)


class RegenerateReply:
    """A new reply to the chat's last user message; the reply it had is superseded."""

    def __init__(self, take_turn: Turn) -> None:
        self._take_turn = take_turn

    async def __call__(
        self,
        user_id: str,
        chat_id: str,
        idempotency_key: str | None = None,
        *,
        deltas: bool = True,
    ) -> AsyncGenerator[TurnEvent, None]:
        """The events of `SendMessage`, `Completed` naming the stored question the new reply
        answers. Raises what `SendMessage` raises, and `NothingToRegenerate` for a chat without
        a user message. A retry with the key of a stored regenerate yields its reply again."""
        _check_caller(user_id, idempotency_key)
        # aclosing: the caller closing us closes the turn (and the model's stream) at once.
        turn = self._take_turn(user_id, chat_id, Regenerate(), idempotency_key, deltas)
        async with aclosing(turn) as events:
            async for event in events:
                yield event


class EditMessage:
    """New text for the chat's last user message: it and its reply are superseded, and the
    new text's turn runs."""

    def __init__(self, take_turn: Turn, policy: ChatPolicy, repository: ChatRepository) -> None:
        self._take_turn = take_turn
        self._policy = policy
        self._repository = repository

    async def __call__(
        self,
        user_id: str,
        chat_id: str,
        message_id: str,
        content: str,
        idempotency_key: str | None = None,
        *,
        deltas: bool = True,
    ) -> AsyncGenerator[TurnEvent, None]:
        """The events of `SendMessage` for the new text. Raises what `SendMessage` raises,
        `MessageNotFound` for a message the chat does not have, and `NotLastUserMessage` for
        one that is not its last user message (superseded ones included)."""
        _check_caller(user_id, idempotency_key)
        validate_message_id(message_id)
        validate_content(content, self._policy.max_message_chars)
        turn = self._take_turn(user_id, chat_id, Edit(message_id, content), idempotency_key, deltas)
        try:
            async with aclosing(turn) as events:
                async for event in events:
                    yield event
        except NotLastUserMessage:
            # Only on this refusal does an unknown id cost a look-up of its own.
            if await self._repository.find_message(user_id, chat_id, message_id) is None:
                raise MessageNotFound(message_id) from None
            raise


class ForkChat:
    """A new chat of the same user, model and parameters carrying on from a message of
    another (`fork_of`); the original is untouched."""

    def __init__(
        self, repository: ChatRepository, window: ChatWindow, clock: Clock = utc_now
    ) -> None:
        self._repository = repository
        self._window = window
        self._clock = clock

    async def __call__(
        self, user_id: str, chat_id: str, message_id: str, idempotency_key: str | None = None
    ) -> ChatView:
        """The fork, with its whole history and its window. Raises `InvalidInput`,
        `ChatNotFound`, `MessageNotFound` (a message not in this chat), `MessageSuperseded`,
        `MessageErased`, `TurnInProgress` while a turn holds the chat (its history is about to
        change), `IdempotencyKeyReused` for a key that forked another message,
        `StorageUnavailable`. A retry with the key of a stored fork returns that fork."""
        _check_caller(user_id, idempotency_key)
        validate_message_id(message_id)
        return self._window.view(await self._fork(user_id, chat_id, message_id, idempotency_key))

    async def _fork(
        self, user_id: str, chat_id: str, message_id: str, idempotency_key: str | None
    ) -> Chat:
        if idempotency_key is not None:
            earlier = await self._earlier(user_id, chat_id, message_id, idempotency_key)
            if earlier is not None:
                return earlier
        now = self._clock()
        original = await self._repository.get_settled_chat(user_id, chat_id, now)
        fork = fork_of(original, message_id, new_id, now, idempotency_key)
        try:
            await self._repository.add_chat(fork)
        except ConcurrentUpdate:
            # The same request twice at once: the one stored first is the answer to both.
            if idempotency_key is None:
                raise
            earlier = await self._earlier(user_id, chat_id, message_id, idempotency_key)
            if earlier is None:
                raise
            return earlier
        return fork

    async def _earlier(
        self, user_id: str, chat_id: str, message_id: str, idempotency_key: str
    ) -> Chat | None:
        fork = await self._repository.find_fork(user_id, chat_id, idempotency_key)
        if fork is None:
            return None
        assert fork.forked_from is not None  # `find_fork` finds forks
        if fork.forked_from.message_id != message_id:
            raise IdempotencyKeyReused(idempotency_key)
        return fork
