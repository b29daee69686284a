"""The OpenAI Responses API's conversations: a conversation is a chat (`conv_` and the chat's
id), with metadata of its own (`ResponseStore`), and its items are the chat's messages."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from chatservice.application.chats import DeleteChat, StartChat
from chatservice.application.ports import ChatRepository, ResponseStore
from chatservice.domain.chat import Chat, Message, Role, validate_user_id
from chatservice.domain.errors import InvalidInput
from chatservice.domain.responses import (
    ConversationRecord,
    chat_id_of,
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
    def __init__(self, start_chat: StartChat, store: ResponseStore) -> None:
        self._start_chat = start_chat
        self._store = store

    async def __call__(
        self, user_id: str, metadata: Mapping[str, str] | None = None
    ) -> Conversation:
        """A new conversation: a chat of the default model and system message. Raises
        `InvalidInput`."""
        kept = validate_metadata(metadata)
        chat = await self._start_chat(validate_user_id(user_id))
        if kept:
            await self._store.put_conversation(ConversationRecord(chat.id, user_id, kept))
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
        of `limit`, after the item `after`. Raises `InvalidInput`, `ChatNotFound`."""
        if not 1 <= limit <= MAX_ITEMS:
            raise InvalidInput(f"limit must be between 1 and {MAX_ITEMS}")
        chat = await self._repository.get_chat(
            validate_user_id(user_id), chat_id_of(conversation_id)
        )
        items = [m for m in chat.messages if m.role is not Role.SYSTEM and not m.superseded]
        if newest_first:
            items.reverse()
        if after is not None:
            start = message_id_of(after)
            index = next((i for i, m in enumerate(items) if m.id == start), None)
            if index is None:
                raise InvalidInput(f"after: no item {after} in this conversation")
            items = items[index + 1 :]
        return ItemPage(items[:limit], len(items) > limit)
