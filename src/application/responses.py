"""The OpenAI Responses API's responses, made: a response is a turn of a chat, run by the turn
use cases (`SendMessage`, `RunInBackground`) and remembered by its record (`ResponseStore`);
`stored_responses.py` reads, follows, cancels and deletes it.

A response without `conversation` or `previous_response_id` starts a chat of its own; with
`conversation` it is that chat's next turn; with `previous_response_id` it continues the chat of
that response: as its next turn when that response is the chat's latest, else on a fork of the
chat from that response's reply (`ForkChat`), made for it. A response refused or failed before
its turn is stored (not in the background) leaves nothing behind: its record goes, and so does a
chat made for it.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field

from chatservice.application.background import BackgroundWork
from chatservice.application.background_turns import RunInBackground
from chatservice.application.chats import DeleteChat, StartChat
from chatservice.application.clock import Clock, utc_now
from chatservice.application.conversation_control import ForkChat
from chatservice.application.ids import new_id
from chatservice.application.live_turns import TurnState
from chatservice.application.ports import ChatRepository, ResponseStore
from chatservice.application.turn_events import Completed, TurnEvent
from chatservice.application.turns import SendMessage
from chatservice.domain.chat import Chat, validate_user_id
from chatservice.domain.errors import InvalidInput
from chatservice.domain.responses import (
    RESPONSE_PREFIX,
    InputMessage,
    ResponseNotFound,
    ResponseRecord,
    chat_id_of,
    turn_input,
    validate_metadata,
    validate_options,
)
from chatservice.domain.turn import TurnOptions


@dataclass(frozen=True)
class NewResponse:
    """What a caller asks of `POST /responses`, transport aside."""

    user_id: str
    input: str | Sequence[InputMessage]
    model: str | None = None
    options: TurnOptions = field(default_factory=TurnOptions)
    metadata: Mapping[str, str] | None = None
    conversation: str | None = None
    previous_response_id: str | None = None
    background: bool = False


@dataclass(frozen=True)
class StartedResponse:
    """A response under way. In the foreground, `events` are its turn's (`Accepted`, `Delta`s,
    `Completed`; to be driven by the caller); in the background, `state` is its turn's when
    the caller was answered."""

    record: ResponseRecord
    events: AsyncGenerator[TurnEvent, None] | None = None
    state: TurnState | None = None


class CreateResponse:
    def __init__(
        self,
        store: ResponseStore,
        repository: ChatRepository,
        start_chat: StartChat,
        send_message: SendMessage,
        delete_chat: DeleteChat,
        fork_chat: ForkChat,
        run_in_background: RunInBackground,
        work: BackgroundWork,
        max_message_chars: int,
        clock: Clock = utc_now,
    ) -> None:
        self._store = store
        self._repository = repository
        self._start_chat = start_chat
        self._send_message = send_message
        self._delete_chat = delete_chat
        self._fork_chat = fork_chat
        self._run_in_background = run_in_background
        self._work = work
        self._max_message_chars = max_message_chars
        self._clock = clock

    async def __call__(self, new: NewResponse, deltas: bool = True) -> StartedResponse:
        """Start the response `new` asks for. Raises, storing nothing: `InvalidInput` (bad
        input, `conversation` with `previous_response_id`, a model other than the chat's),
        `ResponseNotFound` (an unknown previous response), `ChatNotFound` (an unknown
        conversation), and whatever its turn raises before it is under way."""
        user_id = validate_user_id(new.user_id)
        if new.conversation is not None and new.previous_response_id is not None:
            raise InvalidInput("send conversation or previous_response_id, not both")
        asked = turn_input(new.input)
        options = new.options
        # The request's instructions first, then its input's system and developer items.
        instructions = "\n\n".join(
            text for text in (options.instructions, asked.instructions) if text is not None
        )
        if instructions:
            options = TurnOptions(
                instructions,
                options.max_output_tokens,
                options.temperature,
                options.top_p,
                options.truncation,
            )
        validate_options(options, self._max_message_chars)
        metadata = validate_metadata(new.metadata)
        self._send_message.check_input(user_id, asked.content)
        chat, made = await self._chat(new)
        record = ResponseRecord(
            id=RESPONSE_PREFIX + new_id().replace("-", ""),
            user_id=user_id,
            chat_id=chat.id,
            request_id=new_id(),
            model=chat.model,
            created_at=self._clock(),
            options=options,
            metadata=metadata,
            previous_response_id=new.previous_response_id,
            in_conversation=new.conversation is not None,
            background=new.background,
        )
        try:
            await self._store.add_response(record)
            if not new.background:
                turn = self._turn(record, asked.content, deltas)
                return StartedResponse(record, events=self._undone_on_failure(record, made, turn))
            started = await self._run_in_background(
                user_id, chat.id, record.request_id, lambda key: self._turn(record, asked.content)
            )
        except BaseException:
            await self._work.despite_cancellation(self._undo(record, made))
            raise
        return StartedResponse(record, state=started.state)

    async def _chat(self, new: NewResponse) -> tuple[Chat, bool]:
        """The chat the response is a turn of, and whether it was made for it."""
        if new.conversation is not None:
            head = await self._repository.get_chat_head(new.user_id, chat_id_of(new.conversation))
            _check_model(new, head.chat)
            return head.chat, False
        if new.previous_response_id is not None:
            return await self._continued(new, new.previous_response_id)
        return (await self._start_chat(new.user_id, None, new.model)).chat, True

    async def _continued(self, new: NewResponse, previous_response_id: str) -> tuple[Chat, bool]:
        """The chat the response after `previous_response_id` is a turn of: that response's
        chat when it is the chat's latest, else a fork of it from that response's reply (made
        for this response, once the response is known to be one it can take)."""
        user_id = new.user_id
        previous = await self._store.find_response(user_id, previous_response_id)
        if previous is None:
            raise ResponseNotFound(previous_response_id)
        # The chat's head, not its history: a turn costs O(window) (docs/architecture.md).
        head = await self._repository.get_chat_head(user_id, previous.chat_id)
        chat = head.chat
        _check_model(new, chat)
        stored = await self._repository.find_turn(user_id, chat.id, previous.request_id)
        if stored is None:
            raise InvalidInput(
                f"response {previous_response_id} has no stored reply to continue from"
            )
        if head.latest is not None and head.latest.id == stored.reply.id:
            return chat, False
        return (await self._fork_chat(user_id, chat.id, stored.reply.id)).chat, True

    def _turn(
        self, record: ResponseRecord, content: str, deltas: bool = True
    ) -> AsyncGenerator[TurnEvent, None]:
        options = record.options if record.options != TurnOptions() else None
        return self._send_message(
            record.user_id,
            record.chat_id,
            content,
            record.request_id,
            deltas=deltas,
            options=options,
        )

    async def _undone_on_failure(
        self, record: ResponseRecord, made: bool, events: AsyncGenerator[TurnEvent, None]
    ) -> AsyncGenerator[TurnEvent, None]:
        completed = False
        try:
            async with aclosing(events) as stream:
                async for event in stream:
                    completed = isinstance(event, Completed)
                    yield event
        except BaseException:
            if not completed:
                await self._work.despite_cancellation(self._undo(record, made))
            raise

    async def _undo(self, record: ResponseRecord, made: bool) -> None:
        """Forget a response that stored no turn, with the chat made for it."""
        await self._store.delete_response(record.user_id, record.id)
        if made:
            await self._delete_chat(record.user_id, record.chat_id)


def _check_model(new: NewResponse, chat: Chat) -> None:
    """Refuse a response that names another model than its conversation's."""
    if new.model is not None and new.model != chat.model:
        raise InvalidInput(
            f"this conversation is served by {chat.model}; a response continues with its "
            "conversation's model"
        )
