"""The OpenAI surface's records (`ResponseStore`). Contract:
`tests/contract/test_response_store.py`."""

from __future__ import annotations

from typing import Protocol

from chatservice.domain.responses import ConversationRecord, ResponseRecord


class ResponseStore(Protocol):
    """The records of the OpenAI surface's responses and conversations, beside their chats.

    A record of another user is not found: existence never leaks. A record goes with its chat
    (deleting the chat deletes its records). Storage failures raise `StorageUnavailable`.
    """

    async def add_response(self, record: ResponseRecord) -> None:
        """Store a new response's record (its chat is stored already)."""

    async def find_response(self, user_id: str, response_id: str) -> ResponseRecord | None:
        """The user's response of that id, if there is one."""

    async def delete_response(self, user_id: str, response_id: str) -> bool:
        """Remove the user's response of that id; `False` when there was none."""

    async def put_conversation(self, record: ConversationRecord) -> None:
        """Store a conversation's record (its chat is stored already), replacing any it had."""

    async def find_conversation(self, user_id: str, chat_id: str) -> ConversationRecord | None:
        """The record of the user's conversation on that chat, if it has one."""
