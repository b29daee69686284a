"""`SqlAlchemyChatRepository`: the `ChatRepository` port over SQLAlchemy Core (async).

Every method is one short transaction. A turn reads only the chat row and its non-erased messages
and writes only its new rows and changed flags, so its cost follows the context window, not the
length of the history (SPEC §3). Connection failures become `StorageUnavailable`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    and_,
    delete,
    exc,
    false,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from chatservice.adapters.sqlalchemy.rows import chat_from, chat_row, message_from, message_row
from chatservice.adapters.sqlalchemy.tables import MYSQL_DIALECTS, WINDOW_INDEX, chats, messages
from chatservice.adapters.sqlalchemy.transactions import Transactions
from chatservice.application.ports import ChatCursor, StoredTurn, TurnClaim, TurnRecord
from chatservice.domain.chat import Chat, ChatStatus, Message
from chatservice.domain.errors import (
    ChatEnded,
    ChatNotFound,
    ConcurrentUpdate,
    TurnInProgress,
)

# The chat columns a `Chat` is built from (the claim columns are the repository's business).
_CHAT_COLUMNS = tuple(c for c in chats.c if not c.name.startswith("claim_"))
# MySQL's optimizer reads a short chat through the primary key (all its rows), and might do so for
# a long one on stale statistics; the window index keeps a turn's reads to the non-erased rows.
_USE_WINDOW_INDEX = f"FORCE INDEX ({WINDOW_INDEX})"


class SqlAlchemyChatRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._transactions = Transactions(engine)

    async def add_chat(self, chat: Chat) -> None:
        async with self._transactions.begin(write=True) as connection:
            await connection.execute(insert(chats).values(chat_row(chat)))
            if chat.messages:
                await connection.execute(
                    insert(messages), [message_row(chat.id, m) for m in chat.messages]
                )

    async def claim_turn(self, user_id: str, chat_id: str, claim: TurnClaim) -> Chat:
        async with self._transactions.begin(write=True) as connection:
            claimed = await connection.execute(
                update(chats)
                .where(
                    chats.c.id == chat_id,
                    chats.c.user_id == user_id,
                    chats.c.status == ChatStatus.ACTIVE.value,
                    or_(
                        chats.c.claim_request_id.is_(None),
                        chats.c.claim_expires_at <= claim.claimed_at,
                    ),
                )
                .values(claim_request_id=claim.request_id, claim_expires_at=claim.expires_at)
            )
            if claimed.rowcount != 1:
                await _raise_why_not_claimed(connection, user_id, chat_id)
            chat = await _owned_chat(connection, user_id, chat_id)
            chat.messages = await _window(connection, chat_id)
            return chat

    async def release_turn(self, chat_id: str, request_id: str) -> None:
        async with self._transactions.begin(write=True) as connection:
            await connection.execute(
                update(chats)
                .where(chats.c.id == chat_id, chats.c.claim_request_id == request_id)
                .values(claim_request_id=None, claim_expires_at=None)
            )

    async def commit_turn(self, turn: TurnRecord) -> None:
        values: dict[str, Any] = {  # column values of mixed types
            "version": chats.c.version + 1,
            "updated_at": turn.updated_at,
            "prompt_tokens": chats.c.prompt_tokens + turn.usage.prompt_tokens,
            "completion_tokens": chats.c.completion_tokens + turn.usage.completion_tokens,
            "claim_request_id": None,
            "claim_expires_at": None,
        }
        if turn.title is not None:
            values["title"] = turn.title
        try:
            async with self._transactions.begin(write=True) as connection:
                bumped = await connection.execute(
                    update(chats)
                    .where(
                        chats.c.id == turn.chat_id,
                        chats.c.version == turn.expected_version,
                        chats.c.claim_request_id == turn.request_id,
                    )
                    .values(values)
                )
                if bumped.rowcount != 1:
                    raise ConcurrentUpdate(turn.chat_id)
                if turn.erase_before is not None:
                    erase = update(messages)
                    for dialect in MYSQL_DIALECTS:
                        erase = erase.with_hint(_USE_WINDOW_INDEX, dialect_name=dialect)
                    await connection.execute(
                        erase.where(
                            messages.c.chat_id == turn.chat_id,
                            messages.c.erased == false(),
                            messages.c.position > 0,
                            messages.c.position < turn.erase_before,
                        ).values(erased=True)
                    )
                await connection.execute(
                    insert(messages),
                    [message_row(turn.chat_id, m) for m in (turn.user_message, turn.reply)],
                )
        except exc.IntegrityError as error:
            # Another writer took the position or the request id first.
            raise ConcurrentUpdate(turn.chat_id) from error

    async def find_turn(self, user_id: str, chat_id: str, request_id: str) -> StoredTurn | None:
        async with self._transactions.begin(write=False) as connection:
            await _check_owner(connection, user_id, chat_id)
            asked = (
                await connection.execute(
                    select(messages).where(
                        messages.c.chat_id == chat_id, messages.c.request_id == request_id
                    )
                )
            ).one_or_none()
            if asked is None:
                return None
            reply = (
                await connection.execute(
                    select(messages).where(
                        messages.c.chat_id == chat_id, messages.c.position == asked.position + 1
                    )
                )
            ).one()
            return StoredTurn(message_from(asked), message_from(reply))

    async def get_chat(self, user_id: str, chat_id: str) -> Chat:
        async with self._transactions.begin(write=False) as connection:
            chat = await _owned_chat(connection, user_id, chat_id)
            chat.messages = await _messages(connection, chat_id)
            return chat

    async def list_chats(self, user_id: str, limit: int, after: ChatCursor | None) -> list[Chat]:
        query = select(*_CHAT_COLUMNS).where(chats.c.user_id == user_id)
        if after is not None:
            query = query.where(
                or_(
                    chats.c.updated_at < after.updated_at,
                    and_(chats.c.updated_at == after.updated_at, chats.c.id < after.chat_id),
                )
            )
        query = query.order_by(chats.c.updated_at.desc(), chats.c.id.desc()).limit(limit)
        async with self._transactions.begin(write=False) as connection:
            return [chat_from(row) for row in await connection.execute(query)]

    async def end_chat(self, user_id: str, chat_id: str, now: datetime) -> Chat:
        async with self._transactions.begin(write=True) as connection:
            await connection.execute(
                update(chats)
                .where(
                    chats.c.id == chat_id,
                    chats.c.user_id == user_id,
                    chats.c.status != ChatStatus.ENDED.value,
                )
                .values(status=ChatStatus.ENDED.value, updated_at=now, version=chats.c.version + 1)
            )
            chat = await _owned_chat(connection, user_id, chat_id)
            chat.messages = await _messages(connection, chat_id)
            return chat

    async def delete_chat(self, user_id: str, chat_id: str) -> None:
        async with self._transactions.begin(write=True) as connection:
            await _check_owner(connection, user_id, chat_id)
            # Explicitly, so no message outlives its chat even where foreign keys are not enforced.
            await connection.execute(delete(messages).where(messages.c.chat_id == chat_id))
            await connection.execute(delete(chats).where(chats.c.id == chat_id))

    async def ping(self) -> None:
        async with self._transactions.begin(write=False) as connection:
            await connection.execute(text("SELECT 1"))


async def _raise_why_not_claimed(connection: AsyncConnection, user_id: str, chat_id: str) -> None:
    row = (
        await connection.execute(
            select(chats.c.status, chats.c.claim_request_id).where(
                chats.c.id == chat_id, chats.c.user_id == user_id
            )
        )
    ).one_or_none()
    if row is None:
        raise ChatNotFound(chat_id)
    if row.status == ChatStatus.ENDED.value:
        raise ChatEnded(chat_id)
    raise TurnInProgress(chat_id, row.claim_request_id)


async def _check_owner(connection: AsyncConnection, user_id: str, chat_id: str) -> None:
    found = await connection.scalar(
        select(chats.c.id).where(chats.c.id == chat_id, chats.c.user_id == user_id)
    )
    if found is None:
        raise ChatNotFound(chat_id)


async def _owned_chat(connection: AsyncConnection, user_id: str, chat_id: str) -> Chat:
    row = (
        await connection.execute(
            select(*_CHAT_COLUMNS).where(chats.c.id == chat_id, chats.c.user_id == user_id)
        )
    ).one_or_none()
    if row is None:
        raise ChatNotFound(chat_id)
    return chat_from(row)


async def _messages(connection: AsyncConnection, chat_id: str) -> list[Message]:
    """The chat's whole history in order."""
    query = select(messages).where(messages.c.chat_id == chat_id).order_by(messages.c.position)
    return [message_from(row) for row in await connection.execute(query)]


async def _window(connection: AsyncConnection, chat_id: str) -> list[Message]:
    """The chat's non-erased messages in order."""
    query = (
        select(messages)
        .where(messages.c.chat_id == chat_id, messages.c.erased == false())
        .order_by(messages.c.position)
    )
    for dialect in MYSQL_DIALECTS:
        query = query.with_hint(messages, _USE_WINDOW_INDEX, dialect)
    return [message_from(row) for row in await connection.execute(query)]
