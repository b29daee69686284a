"""Short transactions on the engine: connection failures as `StorageUnavailable`, writes that
lost to another transaction as `WriteConflict`.

A transaction runs as one synchronous function, from taking a pooled connection to giving it
back, in one greenlet (`greenlet_spawn`, a private SQLAlchemy API: `greenlets.py`). Awaiting each
step through SQLAlchemy's asyncio layer instead (connect, begin, every statement, commit,
close) spawned a greenlet per step: the turn's SQL took 0.45 ms more on MariaDB per turn with
one per statement, and the server used ~10 % more CPU per turn with `run_sync` inside
`AsyncEngine.connect()` (bench/analysis.md).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Sequence
from typing import TypeVar

from sqlalchemy import Connection, Engine, exc
from sqlalchemy.ext.asyncio import AsyncEngine

from chatservice.adapters.sqlalchemy.dialects import MYSQL_DIALECTS
from chatservice.adapters.sqlalchemy.engine import sqlite_write_lock, writer
from chatservice.adapters.sqlalchemy.greenlets import greenlet_spawn
from chatservice.domain.errors import StorageUnavailable

T = TypeVar("T")

#: MySQL/MariaDB errors after which the transaction was rolled back because another one got in
#: its way: 1213, a deadlock, which is also how Galera reports a transaction that lost to another
#: node's write-set (at certification, at COMMIT, or aborted by it while running); 1205, a lock
#: that another transaction held for `innodb_lock_wait_timeout`.
CONFLICT_ERRORS = frozenset({1205, 1213})
#: A write run again after it lost waits, before each statement, until this node has applied
#: every write-set it had received (Galera's causal reads; 7: reads, updates, deletes and
#: inserts). Without the wait the rerun may find the rows as they were before the winner's
#: write-set reached them, and lose again to the same write. Off Galera it waits for nothing.
RERUN_SYNC_WAIT = 7
#: MySQL's error for a server variable it does not have (`wsrep_sync_wait` off MariaDB).
UNKNOWN_VARIABLE = 1193


class WriteConflict(Exception):
    """A write transaction lost to another transaction on the same rows and was rolled back:
    nothing of it was written, and the rows may have changed since it read them."""


class Transactions:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._writer = writer(engine)
        self._write_lock = sqlite_write_lock(engine)

    async def run(
        self,
        body: Callable[[Connection], T],
        *,
        write: bool,
        attempts: int = 1,
        pauses: Sequence[float] = (),
    ) -> T:
        """`body(connection)` in one transaction: committed when it returns, rolled back when it
        raises. Writes start with `BEGIN IMMEDIATE` on SQLite, one at a time in this process.

        Raises `StorageUnavailable` when the database cannot be reached or does not serve (a
        Galera node outside the primary component), and, for a write, `WriteConflict` when it
        lost to another transaction `attempts` times in a row. Each lost attempt was rolled back
        whole, so more than one attempt suits only a body that may simply run again. Before the
        n-th rerun it pauses a random part of `pauses[n - 1]` seconds (none past their end), out
        of any lock, so that writes that collided do not collide again in step.
        """
        if not write:
            return await self._run(body, self._engine, write=False)
        for attempt in range(attempts - 1):
            try:
                return await self._write(body, rerun=attempt > 0)
            except WriteConflict:
                if attempt < len(pauses):
                    await asyncio.sleep(random.uniform(0, pauses[attempt]))
        return await self._write(body, rerun=attempts > 1)

    async def _write(self, body: Callable[[Connection], T], rerun: bool) -> T:
        if self._write_lock is None:
            return await self._run(body, self._writer, write=True, rerun=rerun)
        async with self._write_lock:
            return await self._run(body, self._writer, write=True, rerun=rerun)

    async def _run(
        self, body: Callable[[Connection], T], engine: AsyncEngine, write: bool, rerun: bool = False
    ) -> T:
        try:
            if rerun and engine.dialect.name in MYSQL_DIALECTS:
                return await greenlet_spawn(_connect_and_rerun, engine.sync_engine, body)
            return await greenlet_spawn(_connect_and_run, engine.sync_engine, body)
        except (exc.OperationalError, exc.InterfaceError, exc.TimeoutError) as error:
            # A read holds no row locks, so only a schema change replicated by Galera can abort
            # one: that is the database not serving for a moment, not a lost race.
            if write and _error_code(error) in CONFLICT_ERRORS:
                raise WriteConflict(_reason(error)) from error
            raise _unavailable(error) from error
        except exc.DBAPIError as error:
            if error.connection_invalidated:
                raise _unavailable(error) from error
            raise


def _connect_and_run(engine: Engine, body: Callable[[Connection], T]) -> T:
    with engine.connect() as connection, connection.begin():
        return body(connection)


def _connect_and_rerun(engine: Engine, body: Callable[[Connection], T]) -> T:
    """`body` in one transaction, with causal reads on for it alone (`RERUN_SYNC_WAIT`)."""
    with engine.connect() as connection:
        waits = _set_sync_wait(connection, RERUN_SYNC_WAIT)
        try:
            with connection.begin():
                return body(connection)
        finally:
            if waits and not connection.invalidated:
                _set_sync_wait(connection, 0)  # the pooled connection goes back as it came


def _set_sync_wait(connection: Connection, value: int) -> bool:
    """Set the session's `wsrep_sync_wait`; `False` on a server without it (MySQL's own). A
    session variable outlives the rollback that ends the statement's implicit transaction,
    which commits nothing (a commit would look like one more write to whoever counts them)."""
    try:
        connection.exec_driver_sql(f"SET SESSION wsrep_sync_wait = {value}")
    except exc.DBAPIError as error:
        if _error_code(error) == UNKNOWN_VARIABLE:
            return False
        raise
    finally:
        connection.rollback()
    return True


def _error_code(error: exc.SQLAlchemyError) -> object:
    """The MySQL error number of the driver's error (asyncmy's `args` are `(errno, message)`)."""
    args = getattr(getattr(error, "orig", None), "args", ())
    return args[0] if args else None


def _reason(error: exc.SQLAlchemyError) -> str:
    # The driver's message may quote the statement; only its class and number are safe to repeat.
    reason = type(getattr(error, "orig", None) or error).__name__
    code = _error_code(error)
    return f"{reason} {code}" if isinstance(code, int) else reason


def _unavailable(error: exc.SQLAlchemyError) -> StorageUnavailable:
    return StorageUnavailable(f"the database is unavailable ({_reason(error)})")
