"""`InMemoryResponseStore`: the `ResponseStore` contract kept in dicts.

For unit tests and experiments only. It does not hear of chats deleted elsewhere (the SQL store
drops a chat's records with the chat); the use cases look the chat up either way.
"""

from __future__ import annotations

from chatservice.domain.responses import ConversationRecord, ResponseRecord


class InMemoryResponseStore:
    def __init__(self) -> None:
        self._responses: dict[str, ResponseRecord] = {}
        self._conversations: dict[str, ConversationRecord] = {}

    async def add_response(self, record: ResponseRecord) -> None:
        self._responses[record.id] = record

    async def find_response(self, user_id: str, response_id: str) -> ResponseRecord | None:
        record = self._responses.get(response_id)
        return record if record is not None and record.user_id == user_id else None

    async def delete_response(self, user_id: str, response_id: str) -> bool:
        if await self.find_response(user_id, response_id) is None:
            return False
        del self._responses[response_id]
        return True

    async def put_conversation(self, record: ConversationRecord) -> None:
        self._conversations[record.chat_id] = record

    async def find_conversation(self, user_id: str, chat_id: str) -> ConversationRecord | None:
        record = self._conversations.get(chat_id)
        return record if record is not None and record.user_id == user_id else None
