"""A committed turn, and the rule for what it does to its chat."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from chatservice.domain.chat import Chat, Message, Usage


@dataclass(frozen=True)
class TurnRecord:
    """Everything one turn changes, stored by `commit_turn` in one transaction."""

    chat_id: str
    idempotency_key: str
    expected_version: int
    user_message: Message
    reply: Message
    erase_before: int | None
    usage: Usage
    title: str | None
    updated_at: datetime

    def applied_to(self, chat: Chat) -> Chat:
        """`chat`, as stored at `expected_version`, after this turn: the messages before position
        `erase_before` erased (never the system message, position 0), the two new messages
        added, the usage summed, the title set if the turn gives one, the version bumped."""
        messages = chat.messages
        if self.erase_before is not None:
            erase_before = self.erase_before
            messages = [
                replace(m, erased=True) if 0 < m.position < erase_before else m for m in messages
            ]
        return replace(
            chat,
            messages=[*messages, self.user_message, self.reply],
            usage=chat.usage + self.usage,
            title=chat.title if self.title is None else self.title,
            updated_at=self.updated_at,
            version=chat.version + 1,
        )
