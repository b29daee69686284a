"""Which chat each WhatsApp sender is in (`WhatsAppDirectory`). Contract:
`tests/contract/test_whatsapp_directory.py`."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class WhatsAppDirectory(Protocol):
    """Which chat each WhatsApp sender is in, and which inbound messages were already taken.

    A sender has at most one current chat, and that rule is kept by the store itself (a unique
    guard), so two replicas answering the same sender at once cannot give them two. Storage
    failures raise `StorageUnavailable`.
    """

    async def take_message(self, message_sid: str, sender: str, received_at: datetime) -> bool:
        """Record an inbound message; `True` the first time its sid is seen, `False` for a
        redelivery (Twilio retries the same message with the same sid)."""

    async def current_chat(self, sender: str) -> str | None:
        """The id of the sender's current chat, if they have one."""

    async def switch_chat(
        self, sender: str, expected: str | None, chat_id: str, now: datetime
    ) -> str:
        """Make `chat_id` the sender's current chat provided their current one is still
        `expected`, or they have none (`expected` is `None`, or their chat was deleted). Return
        the sender's current chat afterwards: `chat_id`, or the one another request put there
        first."""

    async def forget_sender(self, sender: str, limit: int) -> int:
        """Remove the sender's current-chat row and up to `limit` of their inbound-message
        records, in one short transaction; return how many rows went (0: nothing is left)."""

    async def prune_messages(self, before: datetime, limit: int) -> int:
        """Remove up to `limit` inbound-message records received before `before` (Twilio
        retries within minutes, so old ones guard nothing); return how many this call removed."""

    async def count_messages_before(self, before: datetime) -> int:
        """How many records `prune_messages` would remove, all batches together."""
