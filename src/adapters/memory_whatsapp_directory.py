"""`InMemoryWhatsAppDirectory`: the `WhatsAppDirectory` contract kept in dicts.

For unit tests and experiments only: a lock stands in for the database's unique guards. It does
not hear of chats deleted elsewhere (the SQL store drops the sender's row with the chat); the use
case copes with a current chat that is gone either way.
"""

from __future__ import annotations

import asyncio
from datetime import datetime


class InMemoryWhatsAppDirectory:
    def __init__(self) -> None:
        #: Each message sid taken: its sender and when it was received.
        self._taken: dict[str, tuple[str, datetime]] = {}
        self._current: dict[str, str] = {}
        self._lock = asyncio.Lock()

    async def take_message(self, message_sid: str, sender: str, received_at: datetime) -> bool:
        async with self._lock:
            if message_sid in self._taken:
                return False
            self._taken[message_sid] = (sender, received_at)
            return True

    async def current_chat(self, sender: str) -> str | None:
        async with self._lock:
            return self._current.get(sender)

    async def switch_chat(
        self, sender: str, expected: str | None, chat_id: str, now: datetime
    ) -> str:
        async with self._lock:
            current = self._current.get(sender)
            if current is None or current == expected:
                self._current[sender] = current = chat_id
            return current

    async def forget_sender(self, sender: str, limit: int) -> int:
        async with self._lock:
            gone = [sid for sid, (by, _) in self._taken.items() if by == sender][:limit]
            return self._forget(gone) + (self._current.pop(sender, None) is not None)

    async def prune_messages(self, before: datetime, limit: int) -> int:
        async with self._lock:
            return self._forget(self._received_before(before)[:limit])

    async def count_messages_before(self, before: datetime) -> int:
        async with self._lock:
            return len(self._received_before(before))

    def _received_before(self, before: datetime) -> list[str]:
        return [sid for sid, (_, received_at) in self._taken.items() if received_at < before]

    def _forget(self, sids: list[str]) -> int:
        for sid in sids:
            del self._taken[sid]
        return len(sids)
