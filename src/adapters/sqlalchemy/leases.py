"""`SqlAlchemyLeases`: the `Leases` port over SQLAlchemy Core, one row per lease.

Taking a lease is one conditional `UPDATE … WHERE name = :name AND (holder = :me OR expires_at <=
:now)`: the database's row lock makes it atomic on SQLite, MariaDB and a Galera cluster alike
(where two nodes' updates of the row conflict at certification and one loses). A lease never
taken before has no row: the first `INSERT` wins, and a second one collides with the primary key.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, exc, insert, or_, update
from sqlalchemy.ext.asyncio import AsyncEngine

from chatservice.adapters.sqlalchemy.tables import leases
from chatservice.adapters.sqlalchemy.transactions import Transactions, WriteConflict


class SqlAlchemyLeases:
    def __init__(self, engine: AsyncEngine) -> None:
        self._transactions = Transactions(engine)

    async def acquire(self, name: str, holder: str, now: datetime, ttl_seconds: float) -> bool:
        expires_at = now + timedelta(seconds=ttl_seconds)

        def take(connection: Connection) -> bool:
            taken = connection.execute(
                update(leases)
                .where(
                    leases.c.name == name,
                    or_(leases.c.holder == holder, leases.c.expires_at <= now),
                )
                .values(holder=holder, expires_at=expires_at)
            )
            if taken.rowcount == 1:
                return True
            if (
                connection.scalar(
                    leases.select().with_only_columns(leases.c.name).where(leases.c.name == name)
                )
                is not None
            ):
                return False
            connection.execute(
                insert(leases).values(name=name, holder=holder, expires_at=expires_at)
            )
            return True

        try:
            return await self._transactions.run(take, write=True)
        except (exc.IntegrityError, WriteConflict):
            # Another holder's transaction took or created the lease first.
            return False
