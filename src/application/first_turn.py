"""A new chat and its first message in one call, as the original API offered."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing

from chatservice.application.background import BackgroundWork
from chatservice.application.chats import DeleteChat, StartChat
from chatservice.application.turn_events import ChatStarted, Completed, TurnEvent
from chatservice.application.turns import SendMessage


class StartChatWithMessage:
    """Start a chat and send its first message, as the original API did when given no chat id.

    The pair is all or nothing for the caller: if the first turn fails, the new chat is deleted,
    so a refused or failed request leaves nothing stored.
    """

    def __init__(
        self,
        start_chat: StartChat,
        send_message: SendMessage,
        delete_chat: DeleteChat,
        work: BackgroundWork,
    ) -> None:
        self._start_chat = start_chat
        self._send_message = send_message
        self._delete_chat = delete_chat
        self._work = work

    async def __call__(
        self,
        user_id: str,
        content: str,
        idempotency_key: str | None = None,
        *,
        deltas: bool = True,
    ) -> AsyncGenerator[TurnEvent, None]:
        """`ChatStarted`, then the events of `SendMessage` (`deltas` as there)."""
        self._send_message.check_input(user_id, content, idempotency_key)
        chat = (await self._start_chat(user_id)).chat
        completed = False
        try:
            yield ChatStarted(chat.id)
            turn = self._send_message(user_id, chat.id, content, idempotency_key, deltas=deltas)
            async with aclosing(turn) as events:
                async for event in events:
                    completed = isinstance(event, Completed)
                    yield event
        except BaseException:
            if not completed:
                await self._work.despite_cancellation(self._delete_chat(user_id, chat.id))
            raise
