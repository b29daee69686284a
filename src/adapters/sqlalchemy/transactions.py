"""Short transactions on the engine, with connection failures as `StorageUnavailable`.

A transaction's statements run as one synchronous function (`AsyncConnection.run_sync`), in one
greenlet: awaiting each statement through SQLAlchemy's asyncio layer costs a greenlet and
several wrappers per statement, which made a turn's SQL about 0.45 ms slower on MariaDB
(bench/analysis.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Connection, exc
from sqlalchemy.ext.asyncio import AsyncEngine

from chatservice.adapters.sqlalchemy.engine import sqlite_write_lock, writer
from chatservice.domain.errors import StorageUnavailable

T = TypeVar("T")


class Transactions:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._writer = writer(engine)
        self._write_lock = sqlite_write_lock(engine)

    async def run(self, body: Callable[[Connection], T], *, write: bool) -> T:
        """`body(connection)` in one transaction: committed when it returns, rolled back when it
        raises. Writes start with `BEGIN IMMEDIATE` on SQLite, one at a time in this process."""
        if write and self._write_lock is not None:
            async with self._write_lock:
                return await self._run(body, self._writer)
        return await self._run(body, self._writer if write else self._engine)

    async def _run(self, body: Callable[[Connection], T], engine: AsyncEngine) -> T:
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(_in_transaction, body)
        except (exc.OperationalError, exc.InterfaceError, exc.TimeoutError) as error:
            raise _unavailable(error) from error
        except exc.DBAPIError as error:
            if error.connection_invalidated:
                raise _unavailable(error) from error
            raise


def _in_transaction(connection: Connection, body: Callable[[Connection], T]) -> T:
    with connection.begin():
        return body(connection)


def _unavailable(error: exc.SQLAlchemyError) -> StorageUnavailable:
    # The driver's message may quote the statement; only its class is safe to repeat.
    reason = type(getattr(error, "orig", None) or error).__name__
    return StorageUnavailable(f"the database is unavailable ({reason})")
