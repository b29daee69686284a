"""The OpenAI Responses API's bodies, as the `openai` SDK sends and reads them, and their
mapping from the service's objects. Only what the service serves is declared: a request field
it does not know is refused (400), never silently ignored."""

from __future__ import annotations

from typing import Literal

import msgspec

from chatservice.application.background_turns import TurnOutcome
from chatservice.application.conversations import Conversation
from chatservice.application.live_turns import TurnError, TurnState
from chatservice.domain.chat import Message, Role
from chatservice.domain.responses import (
    InputMessage,
    InputPart,
    ResponseRecord,
    conversation_id,
    item_id,
)

#: A response's status, as OpenAI names the state of its turn.
STATUS = {
    TurnState.RUNNING: "in_progress",
    TurnState.COMPLETED: "completed",
    TurnState.FAILED: "failed",
    TurnState.CANCELLED: "cancelled",
}


class ContentPartIn(msgspec.Struct):
    """A content part of an input message (`input_text`; others are refused by type)."""

    type: str
    text: str | None = None


class InputItemIn(msgspec.Struct):
    """A message item of `input` (OpenAI's `EasyInputMessage` or `Message`)."""

    role: Literal["user", "assistant", "system", "developer"]
    content: str | list[ContentPartIn]
    type: Literal["message"] = "message"
    id: str | None = None
    status: str | None = None

    def message(self) -> InputMessage:
        if isinstance(self.content, str):
            return InputMessage(self.role, self.content)
        return InputMessage(self.role, [InputPart(p.type, p.text) for p in self.content])


class ConversationRef(msgspec.Struct, forbid_unknown_fields=True):
    id: str


class ResponseCreate(msgspec.Struct, forbid_unknown_fields=True):
    input: str | list[InputItemIn]
    model: str | None = None
    instructions: str | None = None
    max_output_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    truncation: Literal["auto", "disabled"] | None = None
    metadata: dict[str, str] | None = None
    #: `false` is refused: every response is stored (its conversation is a chat).
    store: bool | None = None
    background: bool | None = None
    stream: bool | None = None
    conversation: str | ConversationRef | None = None
    previous_response_id: str | None = None
    #: Who the caller is, when the `X-Chatservice-User` header does not say.
    safety_identifier: str | None = None
    user: str | None = None


class ConversationCreate(msgspec.Struct, forbid_unknown_fields=True):
    metadata: dict[str, str] | None = None
    #: Messages the conversation starts with (user and assistant).
    items: list[InputItemIn] | None = None


class ItemsCreate(msgspec.Struct, forbid_unknown_fields=True):
    items: list[InputItemIn]


class TextOut(msgspec.Struct):
    text: str
    type: str = "output_text"
    annotations: list[str] = msgspec.field(default_factory=list)
    logprobs: list[str] = msgspec.field(default_factory=list)


class OutputMessageOut(msgspec.Struct):
    id: str
    content: list[TextOut]
    status: str
    role: str = "assistant"
    type: str = "message"


class InputTokensDetailsOut(msgspec.Struct):
    cached_tokens: int = 0


class OutputTokensDetailsOut(msgspec.Struct):
    reasoning_tokens: int = 0


class UsageOut(msgspec.Struct):
    input_tokens: int
    output_tokens: int
    total_tokens: int
    input_tokens_details: InputTokensDetailsOut = msgspec.field(
        default_factory=InputTokensDetailsOut
    )
    output_tokens_details: OutputTokensDetailsOut = msgspec.field(
        default_factory=OutputTokensDetailsOut
    )


class ResponseErrorOut(msgspec.Struct):
    code: str
    message: str


class ConversationRefOut(msgspec.Struct):
    id: str


class ResponseOut(msgspec.Struct):
    id: str
    created_at: int
    status: str
    model: str
    output: list[OutputMessageOut]
    metadata: dict[str, str]
    background: bool
    truncation: str
    error: ResponseErrorOut | None = None
    instructions: str | None = None
    max_output_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    previous_response_id: str | None = None
    conversation: ConversationRefOut | None = None
    usage: UsageOut | None = None
    completed_at: int | None = None
    object: str = "response"
    parallel_tool_calls: bool = False
    tool_choice: str = "none"
    tools: list[str] = msgspec.field(default_factory=list)
    incomplete_details: None = None


class DeletedOut(msgspec.Struct):
    id: str
    deleted: bool
    object: str


class ItemContentOut(msgspec.Struct):
    type: str
    text: str


class ItemOut(msgspec.Struct):
    id: str
    role: str
    content: list[ItemContentOut]
    status: str = "completed"
    type: str = "message"


class ItemListOut(msgspec.Struct):
    data: list[ItemOut]
    has_more: bool
    first_id: str | None
    last_id: str | None
    object: str = "list"


class ConversationOut(msgspec.Struct):
    id: str
    created_at: int
    metadata: dict[str, str]
    object: str = "conversation"


def reply_item_id(record: ResponseRecord) -> str:
    """The id of a response's output message: the response's own, so that it is known from the
    first streamed event, before the reply is stored."""
    return "msg_" + record.id.removeprefix("resp_")


def output_message(record: ResponseRecord, text: str, status: str) -> OutputMessageOut:
    return OutputMessageOut(reply_item_id(record), [TextOut(text)], status)


def response_out(record: ResponseRecord, outcome: TurnOutcome) -> ResponseOut:
    """The response as OpenAI's object: its record, and what its turn came to."""
    reply = outcome.reply
    output, usage, completed_at = [], None, None
    if reply is not None:
        output = [output_message(record, reply.content, "completed")]
        prompt, completion = reply.prompt_tokens or 0, reply.completion_tokens or 0
        usage = UsageOut(prompt, completion, prompt + completion)
        completed_at = int(reply.created_at.timestamp())
    options = record.options
    return ResponseOut(
        id=record.id,
        created_at=int(record.created_at.timestamp()),
        status=STATUS[outcome.state],
        model=reply.model if reply is not None and reply.model else record.model,
        output=output,
        metadata=dict(record.metadata),
        background=record.background,
        truncation=options.truncation.value,
        error=_error_out(outcome.error),
        instructions=options.instructions,
        max_output_tokens=options.max_output_tokens,
        temperature=options.temperature,
        top_p=options.top_p,
        previous_response_id=record.previous_response_id,
        conversation=(
            ConversationRefOut(conversation_id(record.chat_id)) if record.in_conversation else None
        ),
        usage=usage,
        completed_at=completed_at,
    )


def _error_out(error: TurnError | None) -> ResponseErrorOut | None:
    return None if error is None else ResponseErrorOut(error.code, error.message)


def item_out(message: Message) -> ItemOut:
    kind = "output_text" if message.role is Role.ASSISTANT else "input_text"
    return ItemOut(item_id(message.id), message.role.value, [ItemContentOut(kind, message.content)])


def item_list_out(messages: list[Message], has_more: bool = False) -> ItemListOut:
    items = [item_out(m) for m in messages]
    return ItemListOut(
        items, has_more, items[0].id if items else None, items[-1].id if items else None
    )


def conversation_out(conversation: Conversation) -> ConversationOut:
    chat = conversation.chat
    return ConversationOut(
        conversation_id(chat.id), int(chat.created_at.timestamp()), dict(conversation.metadata)
    )
