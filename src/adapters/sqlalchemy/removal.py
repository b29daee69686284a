"""Removing chats for good: every row of a chat in every table, in the caller's transaction.

The one place that knows what a chat owns, for deleting one chat, erasing a user and retention
alike: a table that gains rows of a chat gains its line here. The rows go explicitly, so none
outlives its chat even where foreign keys are not enforced; a WhatsApp sender's current-chat row
goes by its foreign key's cascade (it is the directory's, not the chat's).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, or_, select
from sqlalchemy.sql import Select

from chatservice.adapters.sqlalchemy.chat_reads import check_owner
from chatservice.adapters.sqlalchemy.tables import (
    chat_summaries,
    chats,
    conversations,
    messages,
    responses,
    search_documents,
)

#: Every table with rows of a chat, by its `chat_id` (the chat's own row goes last).
_ROWS_OF_A_CHAT = (messages, chat_summaries, search_documents, responses, conversations)


def remove_chats(connection: Connection, chat_ids: Sequence[str]) -> int:
    """Delete the chats `chat_ids` with everything of theirs; how many chat rows this
    transaction deleted (a chat another transaction deleted first does not count)."""
    if not chat_ids:
        return 0
    for table in _ROWS_OF_A_CHAT:
        connection.execute(delete(table).where(table.c.chat_id.in_(chat_ids)))
    return connection.execute(delete(chats).where(chats.c.id.in_(chat_ids))).rowcount


def remove_owned_chat(connection: Connection, user_id: str, chat_id: str) -> None:
    """Delete the user's chat with everything it owns; `ChatNotFound` when the user has none."""
    check_owner(connection, user_id, chat_id)
    remove_chats(connection, [chat_id])


def chats_of(user_id: str) -> Select[Any]:
    """The ids of the user's chats (for `remove_chats`, a batch at a time)."""
    return select(chats.c.id).where(chats.c.user_id == user_id)


def chats_updated_before(before: datetime, now: datetime) -> Select[Any]:
    """The ids of the chats retention removes (for `remove_chats`, a batch at a time)."""
    return _updated_before(select(chats.c.id), before, now)


def count_updated_before(connection: Connection, before: datetime, now: datetime) -> int:
    """How many chats `chats_updated_before` selects."""
    query = _updated_before(select(func.count()).select_from(chats), before, now)
    return int(connection.scalar(query) or 0)


def _updated_before(query: Select[Any], before: datetime, now: datetime) -> Select[Any]:
    """`query` over the chats last updated before `before` that no turn holds at `now`."""
    return query.where(
        chats.c.updated_at < before,
        or_(chats.c.claim_expires_at.is_(None), chats.c.claim_expires_at <= now),
    )
