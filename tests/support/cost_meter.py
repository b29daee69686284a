"""What a piece of the service costs the database: the statements it runs and the rows they read,
measured by the database itself, for the tests that hold a cost to O(window) or O(page):
- MariaDB: the session's `Handler_read_*` counters (every row an index or table scan visits),
  on an engine of one connection so the session is ours, less what `SHOW STATUS` itself reads;
- SQLite: the virtual-machine instructions the connection executes (a progress handler called
  on every instruction). Visiting a row costs instructions, so a scan of the erased history would
  show, while values and B-tree depth do not change the count. The full-text index's upkeep is
  left out of that count: the insert into its content table (whose trigger feeds FTS5) and the
  commit (where FTS5 writes and merges its segments) cost what the whole index's state makes
  them, the same for every chat and whatever its history; `make bench-search` measures them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from chatservice.adapters.sqlalchemy.engine import create_engine
from chatservice.adapters.sqlalchemy.migrations import AlembicMigrations

#: The statement that keeps the full-text index (its trigger feeds FTS5 on SQLite).
FULL_TEXT_UPKEEP = "INSERT INTO search_documents"


@asynccontextmanager
async def metered_engine(database_url: str, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """An engine of one connection on `database_url`, but for SQLite on a database of the
    test's own. Storing a message writes the FTS5 search index, whose segment merges (and so
    their VM instructions) follow every write the file has seen: on the session's database they
    would follow the tests that ran before, not the chat's history."""
    url = database_url
    if database_url.startswith("sqlite"):
        url = f"sqlite+aiosqlite:///{tmp_path / 'cost.db'}"
        # In a thread: alembic runs its own event loop.
        await asyncio.to_thread(AlembicMigrations(url).upgrade_to_head)
    engine = create_engine(url, max_connections=1)
    try:
        yield engine
    finally:
        await engine.dispose()


@dataclass
class Cost:
    statements: list[str]
    rows_read: dict[str, int]


class CostMeter:
    """Counts the statements an engine of one connection runs, and the rows they read."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._statements: list[str] | None = None
        self._vm_steps = 0
        #: Whether the statement running now is the full-text index's upkeep (SQLite only).
        self._index_upkeep = False
        event.listen(engine.sync_engine, "before_cursor_execute", self._on_execute)
        event.listen(engine.sync_engine, "commit", self._on_commit)

    def _on_execute(self, *args: Any) -> None:  # the listener's untyped arguments
        statement: str = args[2]
        self._index_upkeep = statement.startswith(FULL_TEXT_UPKEEP)
        if self._statements is not None and not statement.startswith("SHOW SESSION STATUS"):
            self._statements.append(statement)

    def _on_commit(self, *_: Any) -> None:  # the listener's untyped arguments
        self._index_upkeep = True

    def _count_vm_step(self) -> int:
        if not self._index_upkeep:
            self._vm_steps += 1
        return 0  # go on

    async def start(self) -> None:
        if self._engine.dialect.name == "sqlite":
            async with self._engine.connect() as connection:
                raw = await connection.get_raw_connection()
                await raw.driver_connection.set_progress_handler(self._count_vm_step, 1)

    async def _counters(self) -> dict[str, int]:
        if self._engine.dialect.name == "sqlite":
            return {"vm_steps": self._vm_steps}
        async with self._engine.connect() as connection:
            rows = await connection.execute(text("SHOW SESSION STATUS LIKE 'Handler_read%'"))
            return {name: int(value) for name, value in rows}

    async def _delta(self, before: dict[str, int]) -> dict[str, int]:
        after = await self._counters()
        return {name: after[name] - before[name] for name in before}

    @contextmanager
    def _recording(self) -> Iterator[list[str]]:
        self._statements = []
        try:
            yield self._statements
        finally:
            self._statements = None

    async def measure(self, send: AsyncIterator[object]) -> tuple[Cost, list[object]]:
        baseline = await self._delta(await self._counters())  # what measuring itself reads
        before = await self._counters()
        with self._recording() as statements:
            events = [event async for event in send]
        delta = await self._delta(before)
        rows = {name: delta[name] - baseline[name] for name in delta}
        return Cost(list(statements), rows), events
