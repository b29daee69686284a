"""The OpenAI Responses API's objects as the service keeps them: a conversation is a chat, a
response is a turn of it.

Ids carry their kind as OpenAI's do (`resp_…`, `conv_…`, `msg_…`). A conversation's id is its
chat's id behind `conv_`, so every chat is a conversation; a response's id is its own, and its
record (`ResponseRecord`) says which chat and which turn (by request id) it is, with what the
caller asked of it that the chat does not keep (instructions, metadata, its sampling options).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from chatservice.domain.chat import Message, Role
from chatservice.domain.errors import ChatServiceError, InvalidInput, shown
from chatservice.domain.turn import TurnOptions, TurnRecord

RESPONSE_PREFIX = "resp_"
CONVERSATION_PREFIX = "conv_"
ITEM_PREFIX = "msg_"
#: OpenAI's limits on `metadata`: 16 pairs, keys of up to 64 characters, values of up to 512.
METADATA_PAIRS = 16
METADATA_KEY_CHARS = 64
METADATA_VALUE_CHARS = 512
#: The longest response id the service makes (`resp_` and 32 hex digits), with room to spare.
RESPONSE_ID_CHARS = 64


class ResponseNotFound(ChatServiceError):
    code = "response_not_found"

    def __init__(self, response_id: str) -> None:
        super().__init__(f"no response with id {shown(response_id)}")


@dataclass(frozen=True)
class ResponseRecord:
    """A response: the turn `request_id` of chat `chat_id`, and what it was asked with.

    `in_conversation`: it was made with `conversation` (so it names its conversation);
    `background`: it runs whatever its caller does (OpenAI's `background`)."""

    id: str
    user_id: str
    chat_id: str
    request_id: str
    model: str
    created_at: datetime
    options: TurnOptions = field(default_factory=TurnOptions)
    metadata: Mapping[str, str] = field(default_factory=dict)
    previous_response_id: str | None = None
    in_conversation: bool = False
    background: bool = False


@dataclass(frozen=True)
class ConversationRecord:
    """What a conversation holds beyond its chat: its metadata."""

    chat_id: str
    user_id: str
    metadata: Mapping[str, str] = field(default_factory=dict)


def conversation_id(chat_id: str) -> str:
    return CONVERSATION_PREFIX + chat_id


def chat_id_of(conversation: str) -> str:
    """The chat of a conversation id; `InvalidInput` for an id that is no conversation's."""
    if not conversation.startswith(CONVERSATION_PREFIX) or len(conversation) == len(
        CONVERSATION_PREFIX
    ):
        raise InvalidInput(f"{shown(conversation)} is not a conversation id (conv_…)")
    return conversation.removeprefix(CONVERSATION_PREFIX)


def item_id(message_id: str) -> str:
    return ITEM_PREFIX + message_id


def message_id_of(item: str) -> str:
    """The message of an item id; `InvalidInput` for an id that is no item's."""
    if not item.startswith(ITEM_PREFIX):
        raise InvalidInput(f"{shown(item)} is not an item id (msg_…)")
    return item.removeprefix(ITEM_PREFIX)


def validate_metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    """`metadata` within OpenAI's limits, as a plain dict; `InvalidInput` otherwise."""
    if not metadata:
        return {}
    if len(metadata) > METADATA_PAIRS:
        raise InvalidInput(f"metadata holds at most {METADATA_PAIRS} pairs")
    for key, value in metadata.items():
        if not 1 <= len(key) <= METADATA_KEY_CHARS:
            raise InvalidInput(f"metadata keys are 1 to {METADATA_KEY_CHARS} characters")
        if len(value) > METADATA_VALUE_CHARS:
            raise InvalidInput(f"metadata values are at most {METADATA_VALUE_CHARS} characters")
    return dict(metadata)


def validate_options(options: TurnOptions, max_chars: int) -> TurnOptions:
    """`options` checked for what holds whatever the model: instructions not blank nor too long,
    a positive `max_output_tokens`, finite sampling values in OpenAI's ranges (the model's own
    limits are checked when the turn is fitted)."""
    if options.instructions is not None and len(options.instructions) > max_chars:
        raise InvalidInput(f"instructions are at most {max_chars} characters")
    if options.max_output_tokens is not None and options.max_output_tokens < 1:
        raise InvalidInput("max_output_tokens must be 1 or more")
    for name, high in (("temperature", 2.0), ("top_p", 1.0)):
        value = getattr(options, name)
        if value is not None and not (math.isfinite(value) and 0.0 <= value <= high):
            raise InvalidInput(f"{name} must be between 0 and {high}")
    return options


@dataclass(frozen=True)
class InputPart:
    """One content part of an input message: its type (`input_text`, …) and its text."""

    type: str
    text: str | None = None


@dataclass(frozen=True)
class InputMessage:
    """One message item of a request's `input`, its content a string or parts."""

    role: str
    content: str | Sequence[InputPart]


@dataclass(frozen=True)
class TurnInput:
    """What a request's `input` asks of one turn: the user's message, and the instructions its
    system and developer items give (joined), if any."""

    content: str
    instructions: str | None = None


#: The part types whose text the service takes.
TEXT_PARTS = frozenset({"input_text", "output_text", "text"})
#: The roles a response's input may hold: the user's turn, and instructions for it.
_INSTRUCTING = frozenset({"system", "developer"})


def text_of(item: InputMessage) -> str:
    """The text of a message item, its text parts joined by blank lines; `InvalidInput` for a
    part that is no text (images, files: the service serves text)."""
    if isinstance(item.content, str):
        return item.content
    texts = []
    for part in item.content:
        if part.type not in TEXT_PARTS or part.text is None:
            raise InvalidInput(f"input content of type {shown(part.type)} is not served; send text")
        texts.append(part.text)
    return "\n\n".join(texts)


def turn_input(given: str | Sequence[InputMessage]) -> TurnInput:
    """One turn's input: a string, or message items whose user text is joined into one message
    and whose system and developer text stands in for the system message. An assistant item
    has no place in a turn's input (the conversation holds the replies): `InvalidInput`, as
    for no user text at all."""
    if isinstance(given, str):
        return TurnInput(given)
    user, instructing = [], []
    for item in given:
        if item.role == "user":
            user.append(text_of(item))
        elif item.role in _INSTRUCTING:
            instructing.append(text_of(item))
        else:
            raise InvalidInput(
                f"input items of role {shown(item.role)} are not served: send the user's "
                "message (and system or developer instructions); the conversation keeps the "
                "replies"
            )
    if not user:
        raise InvalidInput("input holds no user message")
    return TurnInput("\n\n".join(user), "\n\n".join(instructing) if instructing else None)


@dataclass(frozen=True)
class ItemsRecord(TurnRecord):
    """Items added to a conversation without a model's turn (`POST …/items`), stored as a turn
    is: under a claim, in one commit that checks the chat's version. Its new messages are the
    items, in order; `reply` is the last of them."""

    items: tuple[Message, ...] = ()

    @property
    def new_messages(self) -> tuple[Message, ...]:
        return self.items


#: The roles of the items a conversation takes: the user's messages and the model's replies.
ITEM_ROLES = {"user": Role.USER, "assistant": Role.ASSISTANT}


def conversation_items(given: Sequence[InputMessage]) -> list[tuple[Role, str]]:
    """Each item as a message to store: its role and its text. `InvalidInput` for no items, and
    for a system or developer item (a conversation has one system message, its chat's)."""
    if not given:
        raise InvalidInput("items must hold at least one message")
    items = []
    for item in given:
        role = ITEM_ROLES.get(item.role)
        if role is None:
            raise InvalidInput(
                f"items of role {shown(item.role)} are not served: a conversation holds user "
                "and assistant messages (send instructions with each response)"
            )
        items.append((role, text_of(item)))
    return items
