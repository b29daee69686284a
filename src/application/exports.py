"""Use cases that carry a user's chats out of the service and back in: one chat, every chat of a
user (one at a time, so memory stays flat however many there are), and an exported chat stored
again as a new one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import asdict, replace

from chatservice.application.chat_window import ChatView, ChatWindow
from chatservice.application.clock import Clock, utc_now
from chatservice.application.ids import new_id
from chatservice.application.policy import ChatPolicy
from chatservice.application.ports import ChatRepository, TokenCounter
from chatservice.domain.chat import Chat, Message, validate_user_id
from chatservice.domain.errors import ChatNotFound
from chatservice.domain.export import check_importable
from chatservice.domain.models import ModelRegistry
from chatservice.domain.params import RequestedParams, resolve_params

#: The version of the export document this service writes and reads (docs/api.md).
EXPORT_VERSION = 1
#: How many chat ids a user's export reads at a time.
EXPORT_PAGE_SIZE = 100


class ExportUserChats:
    def __init__(
        self, repository: ChatRepository, window: ChatWindow, page_size: int = EXPORT_PAGE_SIZE
    ) -> None:
        self._repository = repository
        self._window = window
        self._page_size = page_size

    def __call__(self, user_id: str) -> AsyncIterator[ChatView]:
        """Every chat of the user with its whole history and its window, one at a time, by
        id: a chat that a turn changes meanwhile is neither skipped nor repeated, and one
        deleted meanwhile is left out. Raises `InvalidInput` for a bad user id at once, before
        anything is read."""
        validate_user_id(user_id)
        return self._chats(user_id)

    async def _chats(self, user_id: str) -> AsyncIterator[ChatView]:
        after: str | None = None
        while True:
            ids = await self._repository.list_chat_ids(user_id, self._page_size, after)
            for chat_id in ids:
                try:
                    chat = await self._repository.get_chat(user_id, chat_id)
                except ChatNotFound:
                    continue
                yield self._window.view(chat)
            if len(ids) < self._page_size:
                return
            after = ids[-1]


class ImportChat:
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

    async def __call__(self, user_id: str, exported: Chat) -> ChatView:
        """Store `exported` (a chat as an export holds it) as a new chat of `user_id`: new ids,
        created now, the same messages with their flags, token counts and usage.

        Raises `InvalidInput`, storing nothing, when the chat is not one this service could
        have written: an unknown model, messages out of order, flags or token counts that do
        not hold (`check_importable`)."""
        validate_user_id(user_id)
        model = self._registry.servable(exported.model)
        params = resolve_params(
            model, RequestedParams(**asdict(exported.params)), exported.params.max_completion_tokens
        )
        check_importable(
            exported,
            self._policy.max_message_chars,
            lambda message: self._counter.message_cost(
                model.encoding, message.role, message.content
            ),
        )
        now = self._clock()
        chat = replace(
            exported,
            id=new_id(),
            user_id=user_id,
            model=model.name,
            params=params,
            created_at=now,
            updated_at=now,
            messages=[_new_copy(m) for m in exported.messages],
            forked_from=None,
        )
        await self._repository.add_chat(chat)
        return self._window.view(chat)


def _new_copy(message: Message) -> Message:
    # Ids the old chat's messages pointed at mean nothing in the new one.
    return replace(message, id=new_id(), idempotency_key=None, replaces=None)
