"""What a turn's action (a new message, a regenerate, an edit) asks of the claimed chat, and how
a retried request is recognised by the turn it stored."""

from __future__ import annotations

from dataclasses import dataclass

from chatservice.application.ports import StoredTurn
from chatservice.application.turn_events import Completed
from chatservice.domain.chat import Chat, Message, Role
from chatservice.domain.errors import IdempotencyKeyReused
from chatservice.domain.turn import Edit, Regenerate, Revision, TurnAction, is_retry, revise


@dataclass(frozen=True)
class Asked:
    """A turn's action as it applies to the claimed chat's window (`revise`)."""

    action: TurnAction
    revision: Revision

    @classmethod
    def of(cls, chat: Chat, action: TurnAction) -> Asked:
        """`action` on `chat` as claimed (its window). Raises `NothingToRegenerate`,
        `NotLastUserMessage`."""
        return cls(action, revise(chat.messages, action))

    @property
    def content(self) -> str:
        """The text the model answers: the stored question of a regenerate, else the new one."""
        if self.revision.question is not None:
            return self.revision.question.content
        assert not isinstance(self.action, Regenerate)  # a regenerate answers a stored question
        return self.action.content

    @property
    def question(self) -> Message | None:
        """The stored user message the reply answers again (a regenerate), else `None`."""
        return self.revision.question

    @property
    def replaced_question(self) -> str | None:
        """The id of the user message the new one takes the place of (an edit)."""
        return self.action.message_id if isinstance(self.action, Edit) else None

    @property
    def replaced_reply(self) -> str | None:
        """The id of the reply a regenerated one takes the place of."""
        if isinstance(self.action, Regenerate) and self.revision.superseded:
            return self.revision.superseded[-1].id
        return None


def landed(chat: Chat, idempotency_key: str) -> StoredTurn | None:
    """The turn of `idempotency_key` in the claimed chat's window, if it is there: a question
    holding the key with its reply, or a regenerated reply holding it with its question."""
    messages = chat.messages
    for index, message in enumerate(messages):
        if message.idempotency_key != idempotency_key:
            continue
        if message.role is Role.USER:
            return StoredTurn(message, messages[index + 1]) if index + 1 < len(messages) else None
        question = next((m for m in reversed(messages[:index]) if m.role is Role.USER), None)
        return StoredTurn(question, message) if question is not None else None
    return None


def replayed(chat_id: str, action: TurnAction, stored: StoredTurn) -> Completed:
    """The stored outcome of a retried request; `IdempotencyKeyReused` when the key's turn was
    another request (another operation, message or text)."""
    if not is_retry(action, stored.user_message, stored.reply):
        key = stored.reply.idempotency_key or stored.user_message.idempotency_key
        raise IdempotencyKeyReused(key or "")
    return Completed(chat_id, stored.user_message, stored.reply, replayed=True)
