"""The SQL of chats' running summaries (`chat_summaries`), for `SqlAlchemyChatRepository`.

A summary lives in a row of its own beside its chat's, so storing one never writes the row a
turn claims and commits: no turn waits on a summary, none loses a race to one. Each statement
here runs inside one of the repository's transactions.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Select, bindparam, false, insert, select, true, update

from chatservice.adapters.sqlalchemy.dialects import MYSQL_DIALECTS
from chatservice.adapters.sqlalchemy.rows import message_from, summary_from, summary_row
from chatservice.adapters.sqlalchemy.tables import WINDOW_INDEX, chat_summaries, chats, messages
from chatservice.domain.chat import Message, Usage
from chatservice.domain.errors import ChatNotFound, ConcurrentUpdate
from chatservice.domain.memory import ChatSummary

#: A chat's summary and what writing it cost, as `rows.chat_from` and `summary_from` read them.
SUMMARY_COLUMNS = (
    chat_summaries.c.content.label("summary_content"),
    chat_summaries.c.tokens.label("summary_tokens"),
    chat_summaries.c.covers_through_position.label("summary_covers_through_position"),
    chat_summaries.c.updated_at.label("summary_updated_at"),
    chat_summaries.c.version.label("summary_version"),
    chat_summaries.c.prompt_tokens.label("summary_prompt_tokens"),
    chat_summaries.c.completion_tokens.label("summary_completion_tokens"),
    chat_summaries.c.cached_prompt_tokens.label("summary_cached_prompt_tokens"),
    chat_summaries.c.cost.label("summary_cost"),
)
#: The chats table joined with each chat's summary, if it has one.
CHATS_WITH_SUMMARIES = chats.outerjoin(chat_summaries, chat_summaries.c.chat_id == chats.c.id)

# Typed as a row of any columns, as `rows` reads them.
_SUMMARY: Select[Any] = select(*SUMMARY_COLUMNS).where(
    chat_summaries.c.chat_id == bindparam("chat")
)
# Through the window index: (chat_id, erased, superseded, position) leads straight to them.
_ERASED_AFTER = (
    select(messages)
    .where(
        messages.c.chat_id == bindparam("chat"),
        messages.c.erased == true(),
        messages.c.superseded == false(),
        messages.c.position > bindparam("after"),
    )
    .order_by(messages.c.position)
)
for _dialect in MYSQL_DIALECTS:
    _ERASED_AFTER = _ERASED_AFTER.with_hint(messages, f"FORCE INDEX ({WINDOW_INDEX})", _dialect)


def with_summary(query: Select[tuple[object, ...]]) -> Select[tuple[object, ...]]:
    """`query` on the chats table, with each chat's summary columns beside its own."""
    return query.add_columns(*SUMMARY_COLUMNS).select_from(CHATS_WITH_SUMMARIES)


def read_summary(connection: Connection, chat_id: str) -> ChatSummary | None:
    """The chat's summary as stored now (one read by primary key)."""
    row = connection.execute(_SUMMARY, {"chat": chat_id}).one_or_none()
    return None if row is None else summary_from(row)


def erased_after(connection: Connection, chat_id: str, position: int) -> tuple[Message, ...]:
    """The chat's erased messages after `position`, in order."""
    rows = connection.execute(_ERASED_AFTER, {"chat": chat_id, "after": position})
    return tuple(message_from(row) for row in rows)


def store_summary(
    connection: Connection, user_id: str, chat_id: str, summary: ChatSummary, usage: Usage
) -> None:
    """Store `summary` over the version it was written from, adding `usage` to what the chat's
    summaries cost; `ConcurrentUpdate` when another was stored first, `ChatNotFound` when the
    user has no such chat."""
    owned = connection.scalar(
        select(chats.c.id).where(chats.c.id == chat_id, chats.c.user_id == user_id)
    )
    if owned is None:
        raise ChatNotFound(chat_id)
    if summary.version == 1:
        # The first: a second first one collides on the primary key (the caller's IntegrityError).
        connection.execute(
            insert(chat_summaries).values(
                **summary_row(chat_id, summary),
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=usage.completion_tokens,
                cached_prompt_tokens=usage.cached_prompt_tokens,
                cost=usage.cost,
            )
        )
        return
    replaced = connection.execute(
        update(chat_summaries)
        .where(
            chat_summaries.c.chat_id == chat_id,
            chat_summaries.c.version == summary.version - 1,
        )
        .values(
            **summary_row(chat_id, summary),
            prompt_tokens=chat_summaries.c.prompt_tokens + usage.prompt_tokens,
            completion_tokens=chat_summaries.c.completion_tokens + usage.completion_tokens,
            cached_prompt_tokens=chat_summaries.c.cached_prompt_tokens + usage.cached_prompt_tokens,
            cost=chat_summaries.c.cost + usage.cost,
        )
    )
    if replaced.rowcount != 1:
        raise ConcurrentUpdate(chat_id)
