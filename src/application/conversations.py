"""The OpenAI Responses API's conversations: a conversation is a chat (`conv_` and the chat's
id), with metadata of its own (`ResponseStore`), and its items are the chat's messages."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from chatservice.application.background import BackgroundWork
from chatservice.application.chats import DeleteChat, StartChat
from chatservice.application.clock import Clock, utc_now
from chatservice.application.ids import new_id
from chatservice.application.policy import ChatPolicy
from chatservice.application.ports import ChatRepository, ResponseStore, TokenCounter, TurnClaim
from chatservice.domain.chat import (
    Chat,
    Message,
    Role,
    Usage,
    title_from,
    validate_content,
    validate_user_id,
)
from chatservice.domain.errors import InvalidInput, MessageNotFound
from chatservice.domain.models import ModelRegistry
from chatservice.domain.responses import (
    ConversationRecord,
    InputMessage,
    ItemsRecord,
    chat_id_of,
    conversation_id,
    conversation_items,
    message_id_of,
    validate_metadata,
)

#: A page of items, when the caller does not say, and at the most (OpenAI's).
DEFAULT_ITEMS = 20
MAX_ITEMS = 100


@dataclass(frozen=True)
class Conversation:
    chat: Chat
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ItemPage:
    items: list[Message]
    has_more: bool


class CreateConversation:
    def __init__(
        self,
        start_chat: StartChat,
        store: ResponseStore,
        add_items: AddConversationItems,
        delete_chat: DeleteChat,
        work: BackgroundWork,
    ) -> None:
        self._start_chat = start_chat
        self._store = store
        self._add_items = add_items
        self._delete_chat = delete_chat
        self._work = work

    async def __call__(
        self,
        user_id: str,
        metadata: Mapping[str, str] | None = None,
        items: Sequence[InputMessage] = (),
    ) -> Conversation:
        """A new conversation: a chat of the default model and system message, holding `items`
        to begin with. All or nothing. Raises `InvalidInput`, `StorageUnavailable`."""
        kept = validate_metadata(metadata)
        if items:
            self._add_items.checked(items)  # before anything is stored
        chat = (await self._start_chat(validate_user_id(user_id))).chat
        try:
            if kept:
                await self._store.put_conversation(ConversationRecord(chat.id, user_id, kept))
            if items:
                await self._add_items(user_id, conversation_id(chat.id), items)
        except BaseException:
            await self._work.despite_cancellation(self._delete_chat(user_id, chat.id))
            raise
        return Conversation(chat, kept)


class GetConversation:
    def __init__(self, repository: ChatRepository, store: ResponseStore) -> None:
        self._repository = repository
        self._store = store

    async def __call__(self, user_id: str, conversation_id: str) -> Conversation:
        """Raises `InvalidInput`, `ChatNotFound`."""
        chat = await self._repository.get_chat(
            validate_user_id(user_id), chat_id_of(conversation_id)
        )
        record = await self._store.find_conversation(user_id, chat.id)
        return Conversation(chat, record.metadata if record is not None else {})


class DeleteConversation:
    def __init__(self, delete_chat: DeleteChat) -> None:
        self._delete_chat = delete_chat

    async def __call__(self, user_id: str, conversation_id: str) -> str:
        """Delete the conversation's chat with all it holds; its chat id. Raises
        `InvalidInput`, `ChatNotFound`."""
        chat_id = chat_id_of(conversation_id)
        await self._delete_chat(user_id, chat_id)
        return chat_id


class ListConversationItems:
    def __init__(self, repository: ChatRepository) -> None:
        self._repository = repository

    async def __call__(
        self,
        user_id: str,
        conversation_id: str,
        limit: int = DEFAULT_ITEMS,
        after: str | None = None,
        newest_first: bool = True,
    ) -> ItemPage:
        """The conversation's items: its chat's user and assistant messages, erased ones
        included, superseded ones not (the conversation reads as its current course). A page
        of `limit`, after the item `after`; it reads that page, not the history. Raises
        `InvalidInput`, `ChatNotFound`."""
        if not 1 <= limit <= MAX_ITEMS:
            raise InvalidInput(f"limit must be between 1 and {MAX_ITEMS}")
        user_id, chat_id = validate_user_id(user_id), chat_id_of(conversation_id)
        start = None if after is None else message_id_of(after)
        try:
            # One more than the page: whether there are more.
            items = await self._repository.list_messages(
                user_id, chat_id, limit + 1, start, newest_first
            )
        except MessageNotFound:
            raise InvalidInput(f"after: no item {after} in this conversation") from None
        return ItemPage(items[:limit], len(items) > limit)


class AddConversationItems:
    """Messages added to a conversation as they are, without the model: a user's message to
    answer later, or an exchange had elsewhere."""

    def __init__(
        self,
        repository: ChatRepository,
        counter: TokenCounter,
        registry: ModelRegistry,
        policy: ChatPolicy,
        work: BackgroundWork,
        clock: Clock = utc_now,
    ) -> None:
        self._repository = repository
        self._counter = counter
        self._registry = registry
        self._policy = policy
        self._work = work
        self._clock = clock

    async def __call__(
        self, user_id: str, conversation_id: str, given: Sequence[InputMessage]
    ) -> list[Message]:
        """Store the items at the end of the conversation, all or none, and return them as
        stored. Raises `InvalidInput`, `ChatNotFound`, `ChatEnded`, `TurnInProgress` (a turn
        holds the chat), `ConcurrentUpdate`, `StorageUnavailable`."""
        validate_user_id(user_id)
        chat_id = chat_id_of(conversation_id)
        items = self.checked(given)
        now = self._clock()
        claim = TurnClaim(new_id(), now, now + timedelta(seconds=self._policy.claim_ttl_seconds))
        chat = await self._repository.claim_turn(user_id, chat_id, claim)
        try:
            record = self._record(chat, claim, items)
            await self._repository.commit_turn(record)
        except BaseException:
            await self._work.despite_cancellation(
                self._repository.release_turn(chat_id, claim.idempotency_key)
            )
            raise
        return list(record.items)

    def checked(self, given: Sequence[InputMessage]) -> list[tuple[Role, str]]:
        """`given` as the messages to store, each's role and text; `InvalidInput` for an item
        the input rules refuse (`conversation_items`, its content's length)."""
        return [
            (role, validate_content(text, self._policy.max_message_chars, "item content"))
            for role, text in conversation_items(given)
        ]

    def _record(self, chat: Chat, claim: TurnClaim, items: list[tuple[Role, str]]) -> ItemsRecord:
        """The items as the chat's next messages, each costing what the chat's model counts."""
        encoding = self._registry.lookup(chat.model).encoding
        now, first = self._clock(), chat.next_position
        messages = tuple(
            Message(
                new_id(),
                role,
                text,
                self._counter.message_cost(encoding, role, text),
                first + offset,
                now,
            )
            for offset, (role, text) in enumerate(items)
        )
        question = next((text for role, text in items if role is Role.USER), None)
        return ItemsRecord(
            chat_id=chat.id,
            user_id=chat.user_id,
            idempotency_key=claim.idempotency_key,
            expected_version=chat.version,
            user_message=None,
            reply=messages[-1],
            erase_before=None,
            usage=Usage(),
            title=title_from(question) if question is not None and not chat.title else None,
            updated_at=now,
            items=messages,
        )
