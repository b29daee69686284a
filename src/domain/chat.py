"""Chats and messages: the entities, the input rules and the context-window rule."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from chatservice.domain.errors import InvalidInput, MessageTooLong
from chatservice.domain.memory import ChatSummary, Memory
from chatservice.domain.prices import ZERO, Prices, cost_of
from chatservice.domain.tokens import REPLY_PRIMING, prompt_cost

USER_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:@+-]{1,128}$")
#: Idempotency keys: printable ASCII, so any transport can carry them unchanged.
IDEMPOTENCY_KEY_CHARS = 128
IDEMPOTENCY_KEY_PATTERN = re.compile(rf"^[\x21-\x7e]{{1,{IDEMPOTENCY_KEY_CHARS}}}$")
TITLE_LENGTH = 80
#: The longest model name (a chat's, a reply's) and finish reason stored.
MODEL_NAME_CHARS = 255
FINISH_REASON_CHARS = 64
#: A chat must leave at least this many tokens for history and the user's message.
MIN_ROOM_FOR_CONVERSATION = 64


class Role(StrEnum):
    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"


class ChatStatus(StrEnum):
    ACTIVE = "active"
    ENDED = "ended"


@dataclass(frozen=True)
class Usage:
    """Tokens as the provider reported them (summed over a chat's turns), how many of the prompt
    tokens it read from its cache, and what they cost in USD (`priced`)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_prompt_tokens: int = 0
    cost: Decimal = ZERO

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.cached_prompt_tokens + other.cached_prompt_tokens,
            self.cost + other.cost,
        )

    def priced(self, prices: Prices, cached_prompt_tokens: int = 0) -> Usage:
        """This one call's usage with `cached_prompt_tokens` of its prompt read from the
        provider's cache, and its cost at `prices`."""
        cached = min(cached_prompt_tokens, self.prompt_tokens)
        cost = cost_of(prices, self.prompt_tokens, self.completion_tokens, cached)
        return replace(self, cached_prompt_tokens=cached, cost=cost)


@dataclass(frozen=True)
class ChatParams:
    """Sampling parameters sent with every call of a chat; `None` leaves the provider's default."""

    max_completion_tokens: int
    temperature: float | None = None
    top_p: float | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    stop: tuple[str, ...] = ()

    def sampling(self) -> dict[str, float | tuple[str, ...]]:
        """The sampling parameters that are set (not `None`, not an empty `stop`), by name."""
        return {
            name: value
            for name, value in asdict(self).items()
            if name != "max_completion_tokens" and value is not None and value != ()
        }


@dataclass(frozen=True)
class Message:
    """One message of a chat. `erased`: dropped from the context window to make room;
    `superseded`: replaced by a newer version (a regenerated reply, an edited question). Either
    keeps the message in the history and out of every prompt; a message is never both (erasure
    passes over superseded messages, and only messages in the window are superseded)."""

    id: str
    role: Role
    content: str
    tokens: int
    position: int
    created_at: datetime
    erased: bool = False
    idempotency_key: str | None = None
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    usage_estimated: bool = False
    superseded: bool = False
    #: The id of the message this one took the place of: the edited question, or the reply
    #: regenerated.
    replaces: str | None = None
    #: An assistant message's: our own count of the prompt it answered, beside the provider's
    #: `prompt_tokens`, so that the next turn knows how the two counts compare.
    estimated_prompt_tokens: int | None = None
    #: A reply's: the model that wrote it, the chat's own or one of its fallbacks; None for the
    #: other roles, and for replies stored before the service recorded it.
    model: str | None = None
    #: A reply's: how many of `prompt_tokens` the provider read from its cache, and what the
    #: call cost in USD; None for the other roles, and for replies stored before there were prices.
    cached_prompt_tokens: int | None = None
    cost: Decimal | None = None

    @property
    def in_window(self) -> bool:
        """Whether the model still sees this message."""
        return not (self.erased or self.superseded)


@dataclass(frozen=True)
class ForkOrigin:
    """Where a fork was made from: the chat and the message up to which it copied the history,
    and the idempotency key of the request that made it, if it had one."""

    chat_id: str
    message_id: str
    idempotency_key: str | None = None


@dataclass
class Chat:
    """A conversation. `messages` holds what was loaded: the whole history or only the window."""

    id: str
    user_id: str
    model: str
    params: ChatParams
    created_at: datetime
    updated_at: datetime
    status: ChatStatus = ChatStatus.ACTIVE
    messages: list[Message] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    version: int = 0
    title: str = ""
    forked_from: ForkOrigin | None = None
    #: Whether the chat keeps a running summary of what its window erased, and that summary.
    memory: Memory = Memory.NONE
    summary: ChatSummary | None = None

    @property
    def system_message(self) -> Message:
        return self.messages[0]

    @property
    def next_position(self) -> int:
        return self.messages[-1].position + 1


def validate_user_id(user_id: str) -> str:
    if not USER_ID_PATTERN.fullmatch(user_id):
        raise InvalidInput("user_id must be 1 to 128 characters of letters, digits and . _ : @ + -")
    return user_id


def validate_idempotency_key(key: str) -> str:
    if not IDEMPOTENCY_KEY_PATTERN.fullmatch(key):
        raise InvalidInput(
            "the idempotency key (Idempotency-Key, or request_id over gRPC) must be 1 to "
            f"{IDEMPOTENCY_KEY_CHARS} printable ASCII characters"
        )
    return key


def validate_content(content: str, max_chars: int, what: str = "message content") -> str:
    if not content.strip():
        raise InvalidInput(f"{what} must not be empty or only whitespace")
    if len(content) > max_chars:
        raise InvalidInput(f"{what} is {len(content)} characters; at most {max_chars} are accepted")
    return content


def title_from(first_user_message: str) -> str:
    return " ".join(first_user_message.split())[:TITLE_LENGTH]


@dataclass(frozen=True)
class Budget:
    """What a prompt may cost in our count: `window - reserve - margin`, divided by `scale`.

    `scale` is how many of the provider's tokens one of ours stands for: 1 where we count with
    the model's own tokenizer, the calibrated ratio elsewhere (`domain/calibration.py`). The
    window, reserve and margin are the provider's tokens; the stored message costs are ours."""

    window: int
    reserve: int
    margin: int = 0
    scale: float = 1.0

    @property
    def prompt_limit(self) -> int:
        return math.floor((self.window - self.reserve - self.margin) / self.scale)


def check_room_for_conversation(system_cost: int, budget: Budget) -> None:
    """Refuse a chat whose system message and reply reserve leave too little room to talk."""
    room = budget.prompt_limit - REPLY_PRIMING - system_cost
    if room < MIN_ROOM_FOR_CONVERSATION:
        raise InvalidInput(
            f"the system message ({system_cost} tokens) and the reply reserve ({budget.reserve}) "
            f"leave {room} tokens of a {budget.window}-token window; at least "
            f"{MIN_ROOM_FOR_CONVERSATION} are needed"
        )


@dataclass(frozen=True)
class Fit:
    """The outcome of fitting a turn's prompt into the window."""

    kept: tuple[Message, ...]
    erased: tuple[Message, ...]
    prompt_tokens: int
    #: Whether the prompt carries the chat's summary (its cost is then in `prompt_tokens`).
    with_summary: bool = False

    @property
    def erase_before(self) -> int | None:
        """Every non-system message below this position is erased (one `UPDATE` in storage)."""
        return self.erased[-1].position + 1 if self.erased else None


def erase_to_fit(
    history: Sequence[Message],
    new_message_cost: int,
    budget: Budget,
    summary_cost: int | None = None,
) -> Fit:
    """Erase the oldest exchanges of `history` until it and the new user message fit `budget`.

    `history` is the chat's non-erased messages in order, the system message first. An exchange is
    a user message with every reply up to the next user message, and goes as a whole. The system
    message and the new message are never erased: when those two alone do not fit, the turn is
    refused with `MessageTooLong`, whose message says how large a message may be.

    `summary_cost`: the cost of the chat's summary of erased exchanges, if it has one. It goes
    right after the system message and counts like any message, but it is never worth a refusal:
    where the system message, summary and new message cannot fit together, the prompt goes
    without it (`Fit.with_summary`).
    """
    system, rest = history[0], list(history[1:])
    fixed = REPLY_PRIMING + system.tokens + new_message_cost
    if fixed > budget.prompt_limit:
        largest = budget.prompt_limit - REPLY_PRIMING - system.tokens
        raise MessageTooLong(
            f"the message costs {new_message_cost} tokens but at most {max(largest, 0)} fit in "
            f"this chat's context window ({budget.window} tokens, {budget.reserve} reserved for "
            "the reply)"
        )
    with_summary = summary_cost is not None and fixed + summary_cost <= budget.prompt_limit
    if with_summary:
        assert summary_cost is not None  # for the type checker: `with_summary` says so
        fixed += summary_cost
    total = fixed + sum(m.tokens for m in rest)
    cut = 0
    while total > budget.prompt_limit:
        end = cut + 1
        while end < len(rest) and rest[end].role is not Role.USER:
            end += 1
        total -= sum(m.tokens for m in rest[cut:end])
        cut = end
    return Fit((system, *rest[cut:]), tuple(rest[:cut]), total, with_summary)


@dataclass(frozen=True)
class WindowUse:
    """How full a chat's context window is: `used`, the tokens the next turn's prompt holds
    before its new message; `reserve`, the room kept for the reply; `limit`, the model's input
    limit."""

    used: int
    reserve: int
    limit: int


def window_use(chat: Chat, limit: int) -> WindowUse:
    """`chat`'s window (its messages the model still sees, and its summary) against an input
    `limit`."""
    used = prompt_cost(m.tokens for m in chat.messages if m.in_window)
    if chat.summary is not None:
        used += chat.summary.tokens
    return WindowUse(used, chat.params.max_completion_tokens, limit)
