"""A turn: what it asks of the chat (send, regenerate, edit), what that makes of the window, and
what a committed turn does to its chat."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from chatservice.domain.chat import Chat, Message, Role, Usage
from chatservice.domain.errors import NothingToRegenerate, NotLastUserMessage
from chatservice.domain.usage import PaidCall


class Truncation(StrEnum):
    #: The window rule: the oldest exchanges leave the prompt to make room.
    AUTO = "auto"
    #: Nothing leaves the prompt: a turn that does not fit is refused (`ContextLengthExceeded`).
    DISABLED = "disabled"


@dataclass(frozen=True)
class TurnOptions:
    """What a new message asks of its one turn beyond the chat's own (the OpenAI surface's
    `instructions`, `max_output_tokens`, …): `None` leaves the chat's. `instructions` stand in
    for the system message in this turn's prompt; nothing of them is stored in the chat."""

    instructions: str | None = None
    max_output_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    truncation: Truncation = Truncation.AUTO


@dataclass(frozen=True)
class Send:
    """A new user message, answered (with `options` for this turn alone, if any)."""

    content: str
    options: TurnOptions | None = None


@dataclass(frozen=True)
class Regenerate:
    """A new reply to the chat's last user message; the reply it had is superseded."""


@dataclass(frozen=True)
class Edit:
    """New text for the chat's last user message (`message_id`, which must be that one): it and
    its reply are superseded, and the new text is answered."""

    message_id: str
    content: str


TurnAction = Send | Regenerate | Edit


@dataclass(frozen=True)
class Revision:
    """What a turn's action makes of the chat's window before the model answers.

    `history`: the window the question follows, the system message first (what the window rule
    may erase from); `question`: the stored user message a regenerate answers again, or `None`
    when the turn brings a new one; `superseded`: the window's messages the turn replaces.
    """

    history: tuple[Message, ...]
    question: Message | None
    superseded: tuple[Message, ...]

    @property
    def supersede_from(self) -> int | None:
        """Every message in the window from this position on is superseded."""
        return self.superseded[0].position if self.superseded else None


def revise(window: Sequence[Message], action: TurnAction) -> Revision:
    """How `action` changes the chat's `window` (the messages the model sees, in order).

    A new message follows the whole window. A regenerate answers the window's last user message
    again and supersedes the replies after it (`NothingToRegenerate` when there is none). An
    edit supersedes the window's last user message, which it must name (`NotLastUserMessage`
    otherwise), with its replies, and the new text takes their place.
    """
    if isinstance(action, Send):
        return Revision(tuple(window), None, ())
    last = next((i for i in reversed(range(len(window))) if window[i].role is Role.USER), None)
    if isinstance(action, Regenerate):
        if last is None:
            raise NothingToRegenerate()
        return Revision(tuple(window[:last]), window[last], tuple(window[last + 1 :]))
    if last is None or window[last].id != action.message_id:
        raise NotLastUserMessage(action.message_id)
    return Revision(tuple(window[:last]), None, tuple(window[last:]))


def is_retry(action: TurnAction, question: Message, reply: Message) -> bool:
    """Whether the committed turn that wrote `reply` to `question`, found by the idempotency key
    `action` carries, is the turn `action` asks for: the same operation on the same message
    with the same text. A regenerate keeps its key on its reply; the others on their question."""
    regenerated = reply.idempotency_key is not None
    if isinstance(action, Regenerate):
        return regenerated
    replaces = action.message_id if isinstance(action, Edit) else None
    return not regenerated and (question.replaces, question.content) == (replaces, action.content)


@dataclass(frozen=True)
class TurnRecord:
    """Everything one turn changes, stored by `commit_turn` in one transaction."""

    chat_id: str
    #: The chat's owner, whose messages the search index files them under.
    user_id: str
    idempotency_key: str
    expected_version: int
    #: The new user message; `None` for a regenerated reply, which answers a stored one.
    user_message: Message | None
    reply: Message
    erase_before: int | None
    usage: Usage
    title: str | None
    updated_at: datetime
    #: Every message still in the window from this position on is superseded (`Revision`).
    supersede_from: int | None = None
    #: The model call that wrote the reply, for the usage ledger; `None` when the turn called
    #: no model (items added to a conversation as they are).
    call: PaidCall | None = None

    @property
    def new_messages(self) -> tuple[Message, ...]:
        """The messages the turn adds, in order."""
        if self.user_message is None:
            return (self.reply,)
        return (self.user_message, self.reply)

    def applied_to(self, chat: Chat) -> Chat:
        """`chat`, as stored at `expected_version`, after this turn: the window's messages
        before position `erase_before` erased (never the system message, position 0), those
        from `supersede_from` on superseded, the new messages added, the usage summed, the
        title set if the turn gives one, the version bumped."""
        return replace(
            chat,
            messages=[*(self._revised(m) for m in chat.messages), *self.new_messages],
            usage=chat.usage + self.usage,
            title=chat.title if self.title is None else self.title,
            updated_at=self.updated_at,
            version=chat.version + 1,
        )

    def _revised(self, message: Message) -> Message:
        if not message.in_window:
            return message
        if self.erase_before is not None and 0 < message.position < self.erase_before:
            return replace(message, erased=True)
        if self.supersede_from is not None and message.position >= self.supersede_from:
            return replace(message, superseded=True)
        return message
