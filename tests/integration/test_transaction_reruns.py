"""A write run again after losing to another transaction reads causally: on Galera it first waits
until its node has applied every write-set it received, so the rerun does not find the rows as
they were before the winner and lose the same way again. The setting is the rerun's alone."""

from __future__ import annotations

import pytest
from sqlalchemy import Connection, exc

from chatservice.adapters.sqlalchemy.engine import create_engine
from chatservice.adapters.sqlalchemy.transactions import (
    RERUN_SYNC_WAIT,
    Transactions,
    WriteConflict,
)


def sync_wait(connection: Connection) -> int:
    return int(connection.exec_driver_sql("SELECT @@wsrep_sync_wait").scalar_one())


def lost_certification() -> exc.OperationalError:
    """The error asyncmy raises for a transaction that lost (MySQL error 1213)."""
    return exc.OperationalError("COMMIT", {}, Exception(1213, "Deadlock found"))


async def test_a_rerun_write_waits_for_causal_reads_and_its_connection_comes_back_as_it_came(
    mariadb_database_url: str,
) -> None:
    # One connection: the rerun and the read after it share the session a setting would leak in.
    engine = create_engine(mariadb_database_url, max_connections=1)
    transactions = Transactions(engine)
    seen: list[int] = []

    def loses_once(connection: Connection) -> str:
        seen.append(sync_wait(connection))
        if len(seen) == 1:
            raise lost_certification()
        return "stored"

    try:
        assert await transactions.run(loses_once, write=True, attempts=2) == "stored"
        assert seen == [0, RERUN_SYNC_WAIT]
        assert await transactions.run(sync_wait, write=False) == 0
        assert await transactions.run(sync_wait, write=True) == 0
    finally:
        await engine.dispose()


async def test_a_write_that_loses_every_time_gives_its_connection_back_as_it_came(
    mariadb_database_url: str,
) -> None:
    engine = create_engine(mariadb_database_url, max_connections=1)
    transactions = Transactions(engine)
    seen: list[int] = []

    def always_loses(connection: Connection) -> None:
        seen.append(sync_wait(connection))
        raise lost_certification()

    try:
        with pytest.raises(WriteConflict):
            await transactions.run(always_loses, write=True, attempts=3)
        assert seen == [0, RERUN_SYNC_WAIT, RERUN_SYNC_WAIT]
        assert await transactions.run(sync_wait, write=False) == 0
    finally:
        await engine.dispose()


async def test_a_write_rerun_after_a_pause_still_reads_causally(mariadb_database_url: str) -> None:
    # How budget claims run again (`CONFLICT_PAUSES`): pausing between attempts must not cost
    # the rerun its causal reads, or it finds the lock row as it was and loses the same way.
    engine = create_engine(mariadb_database_url, max_connections=1)
    transactions = Transactions(engine)
    seen: list[int] = []

    def loses_twice(connection: Connection) -> str:
        seen.append(sync_wait(connection))
        if len(seen) < 3:
            raise lost_certification()
        return "stored"

    try:
        stored = await transactions.run(loses_twice, write=True, attempts=3, pauses=(0.0, 0.0))
        assert stored == "stored"
        assert seen == [0, RERUN_SYNC_WAIT, RERUN_SYNC_WAIT]
    finally:
        await engine.dispose()
