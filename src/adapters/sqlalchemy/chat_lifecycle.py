"""A chat's life outside its turns, for `SqlAlchemyChatRepository`: stored whole (started, forked or
imported), found again as the fork an idempotency key made, ended. Removing one is `removal.py`'s.
Each function runs inside one of the repository's transactions.

A fork is stored under its origin's chat and idempotency key, which a unique index holds to one
fork: a second fork of the same request fails to insert (the caller's `IntegrityError`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, insert, update

from chatservice.adapters.sqlalchemy import search
from chatservice.adapters.sqlalchemy.chat_reads import CHATS, history, whole_chat
from chatservice.adapters.sqlalchemy.rows import chat_from, chat_row, message_row
from chatservice.adapters.sqlalchemy.tables import chats, messages
from chatservice.domain.chat import Chat, ChatStatus, Message

_ADD_MESSAGES = insert(messages)


def add(connection: Connection, chat: Chat) -> None:
    """Store the chat with its messages."""
    connection.execute(insert(chats).values(chat_row(chat)))
    if chat.messages:
        add_messages(connection, chat.user_id, chat.id, chat.messages)


def add_messages(
    connection: Connection, user_id: str, chat_id: str, new_messages: Sequence[Message]
) -> None:
    """Store messages new to the chat (at least one), and index them for search."""
    connection.execute(_ADD_MESSAGES, [message_row(chat_id, m) for m in new_messages])
    search.index_messages(connection, user_id, chat_id, new_messages)


def find_fork(
    connection: Connection, user_id: str, chat_id: str, idempotency_key: str
) -> Chat | None:
    """The user's fork of `chat_id` made under `idempotency_key`, with its whole history."""
    row = connection.execute(
        CHATS.where(
            chats.c.forked_from_chat_id == chat_id,
            chats.c.fork_idempotency_key == idempotency_key,
            chats.c.user_id == user_id,
        )
    ).one_or_none()
    if row is None:
        return None
    fork = chat_from(row)
    fork.messages = history(connection, fork.id)
    return fork


def end(connection: Connection, user_id: str, chat_id: str, now: datetime) -> Chat:
    """Mark the chat ended, unless it is already, and read it whole; `ChatNotFound`."""
    connection.execute(
        update(chats)
        .where(
            chats.c.id == chat_id,
            chats.c.user_id == user_id,
            chats.c.status != ChatStatus.ENDED.value,
        )
        .values(status=ChatStatus.ENDED.value, updated_at=now, version=chats.c.version + 1)
    )
    return whole_chat(connection, user_id, chat_id)
