"""A user's chats a page at a time, for `SqlAlchemyChatRepository`: listed or searched
(`search.py`), newest `(updated_at, id)` first, without messages; and their ids in id order, for a
walk over every chat. Each function runs inside one of the repository's transactions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, and_, or_, select
from sqlalchemy.sql import Select

from chatservice.adapters.sqlalchemy import search
from chatservice.adapters.sqlalchemy.chat_reads import CHATS
from chatservice.adapters.sqlalchemy.rows import chat_from
from chatservice.adapters.sqlalchemy.tables import chats
from chatservice.application.ports import ChatCursor
from chatservice.domain.chat import Chat


def list_chats(
    connection: Connection, user_id: str, limit: int, after: ChatCursor | None
) -> list[Chat]:
    query = _newest_first(CHATS.where(chats.c.user_id == user_id), after).limit(limit)
    return [chat_from(row) for row in connection.execute(query)]


def search_chats(
    connection: Connection,
    dialect: str,
    user_id: str,
    words: Sequence[str],
    limit: int,
    after: ChatCursor | None,
) -> list[Chat]:
    """The user's chats with a message holding every one of `words`, on `dialect`'s index."""
    matching = search.matching_chat_ids(dialect, user_id, words)
    query = _newest_first(CHATS.where(chats.c.user_id == user_id, chats.c.id.in_(matching)), after)
    return [chat_from(row) for row in connection.execute(query.limit(limit))]


def list_chat_ids(connection: Connection, user_id: str, limit: int, after: str | None) -> list[str]:
    query = select(chats.c.id).where(chats.c.user_id == user_id)
    if after is not None:
        query = query.where(chats.c.id > after)
    return list(connection.scalars(query.order_by(chats.c.id).limit(limit)))


def _newest_first(query: Select[Any], after: ChatCursor | None) -> Select[Any]:
    """`query` over chats, newest `(updated_at, id)` first, from after `after`."""
    if after is not None:
        query = query.where(
            or_(
                chats.c.updated_at < after.updated_at,
                and_(chats.c.updated_at == after.updated_at, chats.c.id < after.chat_id),
            )
        )
    return query.order_by(chats.c.updated_at.desc(), chats.c.id.desc())
