"""Short transactions on the engine, with connection failures as `StorageUnavailable`.

A transaction runs as one synchronous function, from taking a pooled connection to giving it
back, in one greenlet (`greenlet_spawn`, a private SQLAlchemy API: `greenlets.py`). Awaiting each
step through SQLAlchemy's asyncio layer instead (connect, begin, every statement, commit,
close) spawned a greenlet per step: the turn's SQL took 0.45 ms more on MariaDB per turn with
one per statement, and the server used ~10 % more CPU per turn with `run_sync` inside
`AsyncEngine.connect()` (bench/analysis.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Connection, Engine, exc
from sqlalchemy.ext.asyncio import AsyncEngine

from chatservice.adapters.sqlalchemy.engine import sqlite_write_lock, writer
from chatservice.adapters.sqlalchemy.greenlets import greenlet_spawn
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
            return await greenlet_spawn(_connect_and_run, engine.sync_engine, body)
        except (exc.OperationalError, exc.InterfaceError, exc.TimeoutError) as error:
            raise _unavailable(error) from error
        except exc.DBAPIError as error:
            if error.connection_invalidated:
                raise _unavailable(error) from error
            raise


def _connect_and_run(engine: Engine, body: Callable[[Connection], T]) -> T:
    with engine.connect() as connection, connection.begin():
        return body(connection)


def _unavailable(error: exc.SQLAlchemyError) -> StorageUnavailable:
    # The driver's message may quote the statement; only its class is safe to repeat.
    reason = type(getattr(error, "orig", None) or error).__name__
    return StorageUnavailable(f"the database is unavailable ({reason})")
