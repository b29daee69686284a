"""Use cases around a chat's life: start, list, read, end, delete."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from chatservice.application.chat_window import ChatView, ChatWindow
from chatservice.application.clock import Clock, utc_now
from chatservice.application.ids import new_id
from chatservice.application.policy import ChatPolicy
from chatservice.application.ports import ChatCursor, ChatRepository, TokenCounter
from chatservice.domain.chat import (
    Budget,
    Chat,
    Message,
    Role,
    check_room_for_conversation,
    validate_content,
    validate_user_id,
)
from chatservice.domain.errors import InvalidInput
from chatservice.domain.memory import memory_named
from chatservice.domain.models import ModelRegistry
from chatservice.domain.params import RequestedParams, resolve_params
from chatservice.domain.search import query_words

#: A page of the chat list, when the caller does not say, and at the most.
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
#: Longer than any cursor `encode_cursor` makes (a timestamp and a chat id, about 100 characters).
MAX_CURSOR_CHARS = 512


class StartChat:
    def __init__(
        self,
        repository: ChatRepository,
        counter: TokenCounter,
        registry: ModelRegistry,
        policy: ChatPolicy,
        window: ChatWindow,
        clock: Clock = utc_now,
    ) -> None:
        self._repository = repository
        self._counter = counter
        self._registry = registry
        self._policy = policy
        self._window = window
        self._clock = clock

    def check_defaults(self) -> None:
        """Fail at start-up, not at the first chat, when the defaults cannot make a chat."""
        self._new_chat("start-up-check", None, None, RequestedParams())

    async def __call__(
        self,
        user_id: str,
        system_message: str | None = None,
        model: str | None = None,
        params: RequestedParams | None = None,
        memory: str | None = None,
    ) -> ChatView:
        """The new chat. Raises `InvalidInput` for a bad user id, system message, model,
        parameter or memory, or when the system message and reply reserve leave no room to
        talk."""
        chat = self._new_chat(
            validate_user_id(user_id), system_message, model, params or RequestedParams()
        )
        chat.memory = self._policy.memory if memory is None else memory_named(memory)
        await self._repository.add_chat(chat)
        return self._window.view(chat)

    def _new_chat(
        self,
        user_id: str,
        system_message: str | None,
        model_name: str | None,
        asked: RequestedParams,
    ) -> Chat:
        policy = self._policy
        system = validate_content(
            system_message if system_message is not None else policy.system_message,
            policy.max_message_chars,
            "system_message",
        )
        model = self._registry.servable(model_name or policy.model)
        default_reserve = policy.max_completion_tokens or model.default_reserve
        params = resolve_params(model, asked, default_reserve)
        system_cost = self._counter.message_cost(model.encoding, Role.SYSTEM, system)
        check_room_for_conversation(
            system_cost,
            Budget(model.context_window, params.max_completion_tokens, policy.window_margin),
        )
        now = self._clock()
        chat_id = new_id()
        return Chat(
            id=chat_id,
            user_id=user_id,
            model=model.name,
            params=params,
            created_at=now,
            updated_at=now,
            messages=[Message(new_id(), Role.SYSTEM, system, system_cost, 0, now)],
        )


@dataclass(frozen=True)
class ChatPage:
    items: list[Chat]
    next_cursor: str | None


def encode_cursor(cursor: ChatCursor) -> str:
    raw = json.dumps([cursor.updated_at.isoformat(), cursor.chat_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str) -> ChatCursor:
    """The position `token` names; `InvalidInput` for anything `encode_cursor` would not make."""
    try:
        # Ours are about 100 characters; a longer one could nest JSON past the recursion limit.
        if len(token) > MAX_CURSOR_CHARS:
            raise ValueError(token)
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        updated_at, chat_id = json.loads(raw)
        when = datetime.fromisoformat(updated_at)
        if when.tzinfo is None or not isinstance(chat_id, str):
            raise ValueError(token)
        # JSON can spell a lone surrogate, which no database driver can encode.
        chat_id.encode()
        # In UTC, as stored: an offset can push the calendar's first or last day out of range.
        return ChatCursor(when.astimezone(UTC), chat_id)
    except (ValueError, TypeError, OverflowError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidInput("cursor is not one this service handed out") from exc


class ListChats:
    def __init__(self, repository: ChatRepository) -> None:
        self._repository = repository

    async def __call__(
        self,
        user_id: str,
        limit: int = DEFAULT_PAGE_SIZE,
        cursor: str | None = None,
        query: str | None = None,
    ) -> ChatPage:
        """A page of the user's chats, newest first; with `query`, only those with a user or
        assistant message holding each of its words, case-insensitively (`query_words`)."""
        validate_user_id(user_id)
        if not 1 <= limit <= MAX_PAGE_SIZE:
            raise InvalidInput(f"limit must be between 1 and {MAX_PAGE_SIZE}")
        after = decode_cursor(cursor) if cursor else None
        if query is None:
            chats = await self._repository.list_chats(user_id, limit + 1, after)
        else:
            words = query_words(query)
            chats = await self._repository.search_chats(user_id, words, limit + 1, after)
        if len(chats) <= limit:
            return ChatPage(chats, None)
        last = chats[limit - 1]
        return ChatPage(chats[:limit], encode_cursor(ChatCursor(last.updated_at, last.id)))


class GetChat:
    def __init__(self, repository: ChatRepository, window: ChatWindow) -> None:
        self._repository = repository
        self._window = window

    async def __call__(self, user_id: str, chat_id: str) -> ChatView:
        chat = await self._repository.get_chat(validate_user_id(user_id), chat_id)
        return self._window.view(chat)


class EndChat:
    def __init__(
        self, repository: ChatRepository, window: ChatWindow, clock: Clock = utc_now
    ) -> None:
        self._repository = repository
        self._window = window
        self._clock = clock

    async def __call__(self, user_id: str, chat_id: str) -> ChatView:
        now = self._clock()
        chat = await self._repository.end_chat(validate_user_id(user_id), chat_id, now)
        return self._window.view(chat)


class DeleteChat:
    def __init__(self, repository: ChatRepository) -> None:
        self._repository = repository

    async def __call__(self, user_id: str, chat_id: str) -> None:
        await self._repository.delete_chat(validate_user_id(user_id), chat_id)


class CheckReadiness:
    """Readiness for traffic: the store answers. Raises `StorageUnavailable` otherwise."""

    def __init__(self, repository: ChatRepository) -> None:
        self._repository = repository

    async def __call__(self) -> None:
        await self._repository.ping()
