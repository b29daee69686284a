"""`SqlAlchemyWhatsAppDirectory`: the `WhatsAppDirectory` port over SQLAlchemy Core (async).

The rules are the database's, not this code's: the primary key of `whatsapp_messages` takes each
MessageSid once, and the primary key of `whatsapp_senders` gives each sender one current chat. A
request that loses either race finds out from the integrity error, on any number of replicas,
or, when the other request's transaction was still open (on Galera: committed through another node
at the same moment), from the `WriteConflict` it lost with.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Connection, delete, exc, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import Select

from chatservice.adapters.sqlalchemy.tables import whatsapp_messages, whatsapp_senders
from chatservice.adapters.sqlalchemy.transactions import Transactions, WriteConflict
from chatservice.domain.errors import ConcurrentUpdate, StorageUnavailable

#: How often `switch_chat` tries again when the row it collided with vanished before it looked.
_SWITCH_ATTEMPTS = 3
#: How often a deletion runs again when it loses to another transaction (another replica
#: pruning the same rows).
_DELETE_ATTEMPTS = 3


class SqlAlchemyWhatsAppDirectory:
    def __init__(self, engine: AsyncEngine) -> None:
        self._transactions = Transactions(engine)

    async def take_message(self, message_sid: str, sender: str, received_at: datetime) -> bool:
        def take(connection: Connection) -> None:
            connection.execute(
                insert(whatsapp_messages).values(
                    message_sid=message_sid, sender=sender, received_at=received_at
                )
            )

        try:
            await self._transactions.run(take, write=True)
        except (exc.IntegrityError, WriteConflict):
            return False
        return True

    async def current_chat(self, sender: str) -> str | None:
        return await self._transactions.run(lambda c: _current(c, sender), write=False)

    async def switch_chat(
        self, sender: str, expected: str | None, chat_id: str, now: datetime
    ) -> str:
        def switch(connection: Connection) -> str:
            if expected is not None:
                switched = connection.execute(
                    update(whatsapp_senders)
                    .where(
                        whatsapp_senders.c.sender == sender,
                        whatsapp_senders.c.chat_id == expected,
                    )
                    .values(chat_id=chat_id, since=now)
                )
                if switched.rowcount == 1:
                    return chat_id
                current = _current(connection, sender)
                if current is not None:
                    return current
            connection.execute(
                insert(whatsapp_senders).values(sender=sender, chat_id=chat_id, since=now)
            )
            return chat_id

        for _ in range(_SWITCH_ATTEMPTS):
            try:
                return await self._transactions.run(switch, write=True)
            except (exc.IntegrityError, WriteConflict):
                # Another request gave the sender a chat first: theirs stands.
                current = await self.current_chat(sender)
                if current is not None:
                    return current
        raise ConcurrentUpdate(chat_id)

    async def forget_sender(self, sender: str, limit: int) -> int:
        taken = select(whatsapp_messages.c.message_sid).where(whatsapp_messages.c.sender == sender)

        def forget(connection: Connection) -> int:
            gone = connection.execute(
                delete(whatsapp_senders).where(whatsapp_senders.c.sender == sender)
            ).rowcount
            return gone + _delete_messages(connection, taken.limit(limit))

        return await self._write(forget)

    async def prune_messages(self, before: datetime, limit: int) -> int:
        old = select(whatsapp_messages.c.message_sid).where(
            whatsapp_messages.c.received_at < before
        )
        return await self._write(lambda c: _delete_messages(c, old.limit(limit)))

    async def count_messages_before(self, before: datetime) -> int:
        query = (
            select(func.count())
            .select_from(whatsapp_messages)
            .where(whatsapp_messages.c.received_at < before)
        )
        return await self._transactions.run(lambda c: int(c.scalar(query) or 0), write=False)

    async def _write(self, body: Callable[[Connection], int]) -> int:
        """A deletion that may simply run again when it loses to another transaction."""
        try:
            return await self._transactions.run(body, write=True, attempts=_DELETE_ATTEMPTS)
        except WriteConflict as error:
            raise StorageUnavailable("the database kept refusing a deletion") from error


def _delete_messages(connection: Connection, sids: Select[tuple[str]]) -> int:
    """Delete the inbound-message records `sids` selects; how many went."""
    chosen = list(connection.scalars(sids))
    if not chosen:
        return 0
    return connection.execute(
        delete(whatsapp_messages).where(whatsapp_messages.c.message_sid.in_(chosen))
    ).rowcount


def _current(connection: Connection, sender: str) -> str | None:
    chat_id: str | None = connection.scalar(
        select(whatsapp_senders.c.chat_id).where(whatsapp_senders.c.sender == sender)
    )
    return chat_id
