"""Request and response bodies of the HTTP API, and their mapping from domain objects."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from chatservice.application.chat_window import ChatView
from chatservice.domain.chat import Chat, Message, Usage
from chatservice.domain.memory import ChatSummary
from chatservice.domain.params import RequestedParams
from chatservice.domain.prices import cost_text


class ErrorDetail(msgspec.Struct):
    code: str
    message: str


class ErrorBody(msgspec.Struct):
    error: ErrorDetail


class ParamsIn(msgspec.Struct, forbid_unknown_fields=True):
    max_completion_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    stop: list[str] | None = None


class NewChat(msgspec.Struct, forbid_unknown_fields=True):
    system_message: str | None = None
    model: str | None = None
    params: ParamsIn | None = None
    #: What the chat keeps of the exchanges its window erases: `none` or `summary` (unset: the
    #: deployment's `default_memory`).
    memory: str | None = None


class NewMessage(msgspec.Struct, forbid_unknown_fields=True):
    content: str
    #: Run the turn in the background: answered 202 at once, followed through its events route.
    background: bool = False


class TurnOptions(msgspec.Struct, forbid_unknown_fields=True):
    """The body of a turn that brings no text (a regenerate)."""

    background: bool = False


class ForkIn(msgspec.Struct, forbid_unknown_fields=True):
    message_id: str


class CompatChatRequest(msgspec.Struct):
    user_id: str
    user_message: str
    chat_id: str | None = None


class CompatChatResponse(msgspec.Struct):
    chat_id: str
    user_id: str
    content: str


class UsageOut(msgspec.Struct):
    prompt_tokens: int
    completion_tokens: int
    #: How many of the prompt tokens the provider read from its cache (billed lower).
    cached_prompt_tokens: int = 0


class TurnUsageOut(msgspec.Struct):
    prompt_tokens: int
    completion_tokens: int
    #: True when the provider reported no usage and our own count stands in.
    estimated: bool
    cached_prompt_tokens: int = 0


#: USD as an exact decimal string (`"0.000125"`), never a float. Below a million dollars: the
#: database keeps costs as whole picodollars in a 64-bit integer (at most about 9.2 million), so
#: an imported cost past that is refused here rather than failing to store.
CostText = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{1,6}(\.[0-9]{1,12})?$")]


class MessageOut(msgspec.Struct):
    id: str
    role: str
    content: str
    tokens: int
    erased: bool
    position: int
    created_at: datetime
    #: Replaced by a newer version (a regenerated reply, an edited question).
    superseded: bool = False
    finish_reason: str | None = None
    usage: TurnUsageOut | None = None
    #: A reply's: the model that wrote it, the chat's own or one of its fallbacks (None for the
    #: other roles, and replies stored before it was recorded).
    model: str | None = None
    #: A reply's cost in USD, from the provider's usage at the answering model's prices (None
    #: for the other roles, and replies stored before there were prices).
    cost: CostText | None = None


class ParamsOut(msgspec.Struct):
    max_completion_tokens: int
    temperature: float | None
    top_p: float | None
    presence_penalty: float | None
    frequency_penalty: float | None
    stop: list[str]


class ChatSummaryOut(msgspec.Struct):
    id: str
    title: str
    status: str
    model: str
    created_at: datetime
    updated_at: datetime
    usage: UsageOut
    #: What the chat's own turns and summaries cost in USD, their exact sum (a fork's copied
    #: replies count in the chat they came from).
    cost: CostText = "0"


class ConversationSummaryOut(msgspec.Struct):
    """The running summary of a chat's erased exchanges: every erased message up to and
    including `covers_through_position` is folded in; `tokens`, its cost in a prompt."""

    content: str
    tokens: int
    covers_through_position: int
    updated_at: datetime


class ForkedFromOut(msgspec.Struct):
    chat_id: str
    message_id: str


class WindowOut(msgspec.Struct):
    """How full the context window is: `used`, what the next turn's prompt holds before its
    new message; `reserve`, the room kept for the reply; `limit`, the model's input limit."""

    used: int
    reserve: int
    limit: int


class ChatOut(msgspec.Struct):
    id: str
    user_id: str
    title: str
    status: str
    model: str
    params: ParamsOut
    created_at: datetime
    updated_at: datetime
    usage: UsageOut
    version: int
    messages: list[MessageOut]
    #: What the chat's own turns and summaries cost in USD, their exact sum (a fork's copied
    #: replies count in the chat they came from).
    cost: CostText
    #: What the chat keeps of its erased exchanges (`none`, `summary`), and that summary: null
    #: until the first erasing turn's summary is stored, and for a chat that keeps none.
    memory: str
    summary: ConversationSummaryOut | None
    #: Where a fork came from; `None` for a chat that is no fork.
    forked_from: ForkedFromOut | None = None
    #: `None` for a chat whose model is no longer configured.
    window: WindowOut | None = None


class ChatPageOut(msgspec.Struct):
    items: list[ChatSummaryOut]
    next_cursor: str | None


class TurnOut(msgspec.Struct):
    message: MessageOut
    usage: TurnUsageOut


class BackgroundTurnOut(msgspec.Struct):
    """A turn the service runs in the background: where to follow it."""

    request_id: str
    status: str
    events_url: str


class TurnStatusOut(msgspec.Struct, omit_defaults=True):
    """A turn's status: `message`, the stored reply, once completed; `error` when it failed or
    was cancelled."""

    status: str
    message: MessageOut | None = None
    error: ErrorDetail | None = None


def requested_params(params: ParamsIn | None) -> RequestedParams:
    # The fields are `RequestedParams`'s, by name.
    return msgspec.convert(params or ParamsIn(), RequestedParams, from_attributes=True)


def turn_usage_out(message: Message) -> TurnUsageOut | None:
    if message.prompt_tokens is None or message.completion_tokens is None:
        return None
    return TurnUsageOut(
        message.prompt_tokens,
        message.completion_tokens,
        message.usage_estimated,
        message.cached_prompt_tokens or 0,
    )


def usage_out(usage: Usage) -> UsageOut:
    return UsageOut(usage.prompt_tokens, usage.completion_tokens, usage.cached_prompt_tokens)


def message_out(message: Message) -> MessageOut:
    return MessageOut(
        id=message.id,
        role=message.role.value,
        content=message.content,
        tokens=message.tokens,
        erased=message.erased,
        position=message.position,
        created_at=message.created_at,
        superseded=message.superseded,
        finish_reason=message.finish_reason,
        usage=turn_usage_out(message),
        model=message.model,
        cost=None if message.cost is None else cost_text(message.cost),
    )


def turn_out(reply: Message) -> TurnOut:
    usage = turn_usage_out(reply) or TurnUsageOut(0, 0, estimated=True)
    return TurnOut(message=message_out(reply), usage=usage)


def summary_out(chat: Chat) -> ChatSummaryOut:
    return ChatSummaryOut(
        id=chat.id,
        title=chat.title,
        status=chat.status.value,
        model=chat.model,
        created_at=chat.created_at,
        updated_at=chat.updated_at,
        usage=usage_out(chat.usage),
        cost=cost_text(chat.usage.cost),
    )


def chat_out(view: ChatView) -> ChatOut:
    chat, window = view.chat, view.window
    origin = chat.forked_from
    return ChatOut(
        id=chat.id,
        user_id=chat.user_id,
        title=chat.title,
        status=chat.status.value,
        model=chat.model,
        params=msgspec.convert(chat.params, ParamsOut, from_attributes=True),
        created_at=chat.created_at,
        updated_at=chat.updated_at,
        usage=usage_out(chat.usage),
        cost=cost_text(chat.usage.cost),
        version=chat.version,
        messages=[message_out(m) for m in chat.messages],
        forked_from=ForkedFromOut(origin.chat_id, origin.message_id) if origin else None,
        window=WindowOut(window.used, window.reserve, window.limit) if window else None,
        memory=chat.memory.value,
        summary=conversation_summary_out(chat.summary),
    )


def conversation_summary_out(summary: ChatSummary | None) -> ConversationSummaryOut | None:
    if summary is None:
        return None
    return ConversationSummaryOut(
        summary.content, summary.tokens, summary.covers_through_position, summary.updated_at
    )
