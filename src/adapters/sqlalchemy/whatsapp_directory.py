"""`SqlAlchemyWhatsAppDirectory`: the `WhatsAppDirectory` port over SQLAlchemy Core (async).

The rules are the database's, not this code's: the primary key of `whatsapp_messages` takes each
MessageSid once, and the primary key of `whatsapp_senders` gives each sender one current chat. A
request that loses either race finds out from the integrity error, on any number of replicas,
or, when the other request's transaction was still open (on Galera: committed through another node
at the same moment), from the `WriteConflict` it lost with.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, exc, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from chatservice.adapters.sqlalchemy.tables import whatsapp_messages, whatsapp_senders
from chatservice.adapters.sqlalchemy.transactions import Transactions, WriteConflict
from chatservice.domain.errors import ConcurrentUpdate

#: How often `switch_chat` tries again when the row it collided with vanished before it looked.
_SWITCH_ATTEMPTS = 3


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


def _current(connection: Connection, sender: str) -> str | None:
    chat_id: str | None = connection.scalar(
        select(whatsapp_senders.c.chat_id).where(whatsapp_senders.c.sender == sender)
    )
    return chat_id
