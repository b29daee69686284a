"""The export document of a chat (the chat as `GET` shows it, plus its `export_version`), and
how an import reads one back into a domain chat."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

import msgspec

from chatservice.application.chat_window import ChatView
from chatservice.application.exports import EXPORT_VERSION
from chatservice.domain.chat import (
    FINISH_REASON_CHARS,
    MODEL_NAME_CHARS,
    Chat,
    ChatParams,
    ChatStatus,
    Message,
    Role,
    Usage,
)
from chatservice.domain.errors import InvalidInput
from chatservice.domain.memory import Memory
from chatservice.entrypoints.http.schemas import ChatOut, CostText, chat_out

#: A timestamp with its offset: a naive one would be a guess at the zone.
Instant = Annotated[datetime, msgspec.Meta(tz=True)]
Count = Annotated[int, msgspec.Meta(ge=0, le=2**62)]


class ChatExportOut(ChatOut, kw_only=True):
    """The chat as `GET` shows it, with the version of this document's format."""

    export_version: int


def chat_export(view: ChatView) -> ChatExportOut:
    shown = chat_out(view)
    fields = {name: getattr(shown, name) for name in shown.__struct_fields__}
    return ChatExportOut(**fields, export_version=EXPORT_VERSION)


# An import reads what `GET` shows and ignores the rest (ids, times, what only describes the
# chat now): a document from a newer service still imports, so long as its version is this one.
class _UsageIn(msgspec.Struct):
    prompt_tokens: Count
    completion_tokens: Count
    cached_prompt_tokens: Count = 0


class _TurnUsageIn(msgspec.Struct):
    prompt_tokens: Count
    completion_tokens: Count
    estimated: bool = False
    cached_prompt_tokens: Count = 0


class _ParamsIn(msgspec.Struct):
    max_completion_tokens: Count
    temperature: float | None = None
    top_p: float | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    stop: list[str] = []


class _MessageIn(msgspec.Struct):
    role: Literal["system", "user", "assistant"]
    content: str
    tokens: Count
    position: Count
    created_at: Instant
    erased: bool = False
    superseded: bool = False
    finish_reason: Annotated[str, msgspec.Meta(max_length=FINISH_REASON_CHARS)] | None = None
    usage: _TurnUsageIn | None = None
    model: Annotated[str, msgspec.Meta(max_length=MODEL_NAME_CHARS)] | None = None
    cost: CostText | None = None


class ChatImportIn(msgspec.Struct):
    """A chat export, as `GET …/export?format=json` writes it."""

    export_version: int
    model: str
    params: _ParamsIn
    messages: list[_MessageIn]
    title: str = ""
    status: Literal["active", "ended"] = "active"
    memory: Literal["none", "summary"] = "none"
    usage: _UsageIn = msgspec.field(default_factory=lambda: _UsageIn(0, 0))
    version: Count = 0
    cost: CostText = "0"


def imported_chat(document: ChatImportIn) -> Chat:
    """The chat `document` describes, under placeholder ids (the import gives it new ones)."""
    if document.export_version != EXPORT_VERSION:
        raise InvalidInput(
            f"export_version {document.export_version} is not one this service reads "
            f"({EXPORT_VERSION})"
        )
    messages = [_message(m) for m in document.messages]
    created = messages[0].created_at if messages else datetime.fromtimestamp(0).astimezone()
    params = document.params
    return Chat(
        id="",
        user_id="",
        model=document.model,
        params=ChatParams(
            max_completion_tokens=params.max_completion_tokens,
            temperature=params.temperature,
            top_p=params.top_p,
            presence_penalty=params.presence_penalty,
            frequency_penalty=params.frequency_penalty,
            stop=tuple(params.stop),
        ),
        created_at=created,
        updated_at=created,
        status=ChatStatus(document.status),
        memory=Memory(document.memory),
        messages=messages,
        usage=Usage(
            document.usage.prompt_tokens,
            document.usage.completion_tokens,
            document.usage.cached_prompt_tokens,
            Decimal(document.cost),
        ),
        version=document.version,
        title=document.title,
    )


def _message(message: _MessageIn) -> Message:
    usage = message.usage
    return Message(
        id="",
        role=Role(message.role),
        content=message.content,
        tokens=message.tokens,
        position=message.position,
        created_at=message.created_at,
        erased=message.erased,
        superseded=message.superseded,
        finish_reason=message.finish_reason,
        prompt_tokens=None if usage is None else usage.prompt_tokens,
        completion_tokens=None if usage is None else usage.completion_tokens,
        usage_estimated=usage is not None and usage.estimated,
        model=message.model,
        cached_prompt_tokens=None if usage is None else usage.cached_prompt_tokens,
        cost=None if message.cost is None else Decimal(message.cost),
    )
