"""SQLite takes one writer at a time. Writers of one process queue for it in order, so none of
them waits out the busy timeout while others keep going first."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import Connection, text

from chatservice.adapters.sqlalchemy import engine as engine_module
from chatservice.adapters.sqlalchemy.engine import create_engine
from chatservice.adapters.sqlalchemy.transactions import Transactions

WRITERS = 12
#: SQLite's busy timeout for this test: shorter than any one write holds the lock, on any machine.
BUSY_TIMEOUT_MS = 1
#: A write transaction that holds SQLite's lock for several milliseconds.
SLOW_WRITE = text(
    "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 100000) "
    "SELECT count(*) FROM n"
)


def slow_write(connection: Connection) -> int:
    connection.execute(text("CREATE TABLE IF NOT EXISTS marks (id INTEGER PRIMARY KEY)"))
    connection.execute(text("INSERT INTO marks DEFAULT VALUES"))
    return int(connection.execute(SLOW_WRITE).scalar_one())


async def test_concurrent_writers_all_commit_within_a_short_busy_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The busy timeout is shorter than any writer holds the lock: only queueing in the process,
    # not SQLite's retries, lets every one of them through.
    monkeypatch.setattr(engine_module, "SQLITE_BUSY_TIMEOUT_MS", BUSY_TIMEOUT_MS)
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'writers.db'}")
    transactions = Transactions(engine)
    try:
        started = asyncio.get_running_loop().time()
        await transactions.run(slow_write, write=True)
        one_write = asyncio.get_running_loop().time() - started
        assert one_write * 1000 > BUSY_TIMEOUT_MS, "a write must outlast the busy timeout"

        counts = await asyncio.gather(
            *(transactions.run(slow_write, write=True) for _ in range(WRITERS))
        )
        assert counts == [100000] * WRITERS
        stored = await transactions.run(
            lambda c: c.execute(text("SELECT count(*) FROM marks")).scalar_one(), write=False
        )
        assert stored == WRITERS + 1
    finally:
        await engine.dispose()
