"""Turning table rows into domain objects and back."""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import Row

from chatservice.domain.chat import (
    Chat,
    ChatParams,
    ChatStatus,
    ForkOrigin,
    Message,
    Role,
    Usage,
)
from chatservice.domain.memory import ChatSummary, Memory
from chatservice.domain.prices import ZERO


def params_json(params: ChatParams) -> str:
    """The chat's parameters as one JSON object, a key for each field of `ChatParams`."""
    return msgspec.json.encode(params).decode()


def params_from(document: str) -> ChatParams:
    return msgspec.json.decode(document, type=ChatParams)


def chat_row(chat: Chat) -> dict[str, object]:
    return {
        "id": chat.id,
        "user_id": chat.user_id,
        "status": chat.status.value,
        "model": chat.model,
        "params": params_json(chat.params),
        "title": chat.title,
        "prompt_tokens": chat.usage.prompt_tokens,
        "completion_tokens": chat.usage.completion_tokens,
        "cached_prompt_tokens": chat.usage.cached_prompt_tokens,
        "cost": chat.usage.cost,
        "created_at": chat.created_at,
        "updated_at": chat.updated_at,
        "version": chat.version,
        "claim_idempotency_key": None,
        "claim_expires_at": None,
        "memory": chat.memory.value,
        **_fork_row(chat.forked_from),
    }


def _fork_row(origin: ForkOrigin | None) -> dict[str, str | None]:
    return {
        "forked_from_chat_id": origin.chat_id if origin else None,
        "forked_from_message_id": origin.message_id if origin else None,
        "fork_idempotency_key": origin.idempotency_key if origin else None,
    }


def summary_row(chat_id: str, summary: ChatSummary) -> dict[str, object]:
    """The columns of `chat_summaries` a summary sets (its usage is added apart)."""
    return {
        "chat_id": chat_id,
        "content": summary.content,
        "tokens": summary.tokens,
        "covers_through_position": summary.covers_through_position,
        "updated_at": summary.updated_at,
        "version": summary.version,
    }


def summary_from(row: Row[Any]) -> ChatSummary | None:
    """The summary in a row read with `SUMMARY_COLUMNS`, if the chat has one."""
    if row.summary_version is None:
        return None
    return ChatSummary(
        row.summary_content,
        row.summary_tokens,
        row.summary_covers_through_position,
        row.summary_updated_at,
        row.summary_version,
    )


def chat_from(row: Row[Any]) -> Chat:
    """A chat from a row of the chats table joined with its summary's (`SUMMARY_COLUMNS`); the
    claim columns unused. Its usage includes what its summaries cost."""
    summary_usage = Usage(
        row.summary_prompt_tokens or 0,
        row.summary_completion_tokens or 0,
        row.summary_cached_prompt_tokens or 0,
        row.summary_cost or ZERO,
    )
    return Chat(
        id=row.id,
        user_id=row.user_id,
        model=row.model,
        params=params_from(row.params),
        created_at=row.created_at,
        updated_at=row.updated_at,
        status=ChatStatus(row.status),
        usage=Usage(row.prompt_tokens, row.completion_tokens, row.cached_prompt_tokens, row.cost)
        + summary_usage,
        version=row.version,
        title=row.title,
        forked_from=(
            None
            if row.forked_from_chat_id is None
            else ForkOrigin(
                row.forked_from_chat_id, row.forked_from_message_id, row.fork_idempotency_key
            )
        ),
        memory=Memory(row.memory),
        summary=summary_from(row),
    )


def message_row(chat_id: str, message: Message) -> dict[str, object]:
    return {
        "chat_id": chat_id,
        "position": message.position,
        "id": message.id,
        "role": message.role.value,
        "content": message.content,
        "tokens": message.tokens,
        "erased": message.erased,
        "idempotency_key": message.idempotency_key,
        "finish_reason": message.finish_reason,
        "prompt_tokens": message.prompt_tokens,
        "completion_tokens": message.completion_tokens,
        "usage_estimated": message.usage_estimated,
        "created_at": message.created_at,
        "superseded": message.superseded,
        "replaces": message.replaces,
        "estimated_prompt_tokens": message.estimated_prompt_tokens,
        "model": message.model,
        "cached_prompt_tokens": message.cached_prompt_tokens,
        "cost": message.cost,
    }


def message_from(row: Row[Any]) -> Message:  # a row of the messages table
    return Message(
        id=row.id,
        role=Role(row.role),
        content=row.content,
        tokens=row.tokens,
        position=row.position,
        created_at=row.created_at,
        erased=bool(row.erased),
        idempotency_key=row.idempotency_key,
        finish_reason=row.finish_reason,
        prompt_tokens=row.prompt_tokens,
        completion_tokens=row.completion_tokens,
        usage_estimated=bool(row.usage_estimated),
        superseded=bool(row.superseded),
        replaces=row.replaces,
        estimated_prompt_tokens=row.estimated_prompt_tokens,
        model=row.model,
        cached_prompt_tokens=row.cached_prompt_tokens,
        cost=row.cost,
    )
