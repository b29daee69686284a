"""Building the async engine for SQLite (the embedded default) or MySQL/MariaDB.

SQLite runs in WAL mode with a busy timeout and foreign keys on. SQLAlchemy, not the `sqlite3`
driver, emits each `BEGIN`: reads open a deferred transaction (a consistent snapshot that blocks
nobody), writes open theirs with `BEGIN IMMEDIATE`, so two writers queue on the busy timeout up
front instead of one failing on a lock upgrade half-way. Writes use the engine `writer(engine)`,
and within one process they queue on `sqlite_write_lock(engine)` before they begin.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, Engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from chatservice.adapters.sqlalchemy.dialects import MYSQL_DIALECTS
from chatservice.domain.errors import StorageUnavailable

#: How long a SQLite connection waits for another writer before giving up, in milliseconds.
SQLITE_BUSY_TIMEOUT_MS = 5000
#: Reconnect MySQL connections older than this (servers drop idle ones after `wait_timeout`).
MYSQL_POOL_RECYCLE_SECONDS = 1800

_WRITE_OPTION = "chatservice_write"
DEFAULT_POOL_SIZE = 20
DEFAULT_POOL_OVERFLOW = 20
_SQLITE_WRITE_LOCKS: WeakKeyDictionary[Engine, asyncio.Lock] = WeakKeyDictionary()


def create_engine(
    url: str,
    echo: bool = False,
    *,
    max_connections: int | None = None,
    connect_timeout: float | None = None,
    read_timeout: float | None = None,
) -> AsyncEngine:
    """An engine for `url` (`sqlite+aiosqlite:///path`, `mysql+asyncmy://…`, `mariadb+asyncmy://…`).

    SQL parameters are never logged. `max_connections` caps the pool (no overflow) when given.
    On MySQL/MariaDB, `connect_timeout` and `read_timeout` (seconds; None: the driver's own, 10 s
    and none) bound opening a connection and each wait for the server's answer, so a request to a
    server that stopped answering fails (as `StorageUnavailable`) instead of hanging.
    Raises `ValueError` for an in-memory SQLite database or another kind of database, and
    `StorageUnavailable` when a SQLite file's folder cannot be created.
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    options: dict[str, Any] = {"echo": echo, "hide_parameters": True}  # create_engine's kwargs
    if max_connections is not None:
        options.update(pool_size=max_connections, max_overflow=0)
    else:
        # Two short transactions a turn: enough connections that concurrent turns do not queue
        # for one (SQLAlchemy's default is 5 + 10).
        options.update(pool_size=DEFAULT_POOL_SIZE, max_overflow=DEFAULT_POOL_OVERFLOW)
    if backend == "sqlite":
        _check_sqlite_file(parsed)
        engine = create_async_engine(parsed, **options)
        _configure_sqlite(engine)
        return engine
    if backend in MYSQL_DIALECTS:
        if "charset" not in parsed.query:
            parsed = parsed.update_query_dict({"charset": "utf8mb4"})
        timeouts = {"connect_timeout": connect_timeout, "read_timeout": read_timeout}
        return create_async_engine(
            parsed,
            pool_pre_ping=True,
            pool_recycle=MYSQL_POOL_RECYCLE_SECONDS,
            connect_args={name: value for name, value in timeouts.items() if value is not None},
            **options,
        )
    raise ValueError(f"unsupported database {backend!r}: use sqlite+aiosqlite or mysql+asyncmy")


def sqlite_write_lock(engine: AsyncEngine) -> asyncio.Lock | None:
    """For a SQLite engine, the lock its writers queue on in this process; None for others.

    SQLite takes one writer at a time, and its busy handler retries a blocked `BEGIN IMMEDIATE`
    with sleeps rather than in turn: under 32 concurrent turns some writers kept losing until
    the busy timeout failed them (`make bench`). Queued here, in order, the busy timeout is left
    to writers in other processes.
    """
    if engine.dialect.name != "sqlite":
        return None
    return _SQLITE_WRITE_LOCKS.setdefault(engine.sync_engine, asyncio.Lock())


def writer(engine: AsyncEngine) -> AsyncEngine:
    """The same engine (same pool) whose transactions are writes: `BEGIN IMMEDIATE` on SQLite."""
    return engine.execution_options(**{_WRITE_OPTION: True})


def _check_sqlite_file(url: URL) -> None:
    database = url.database or ""
    in_memory = (
        database in ("", ":memory:")
        or database.startswith("file::memory:")
        or url.query.get("mode") == "memory"
    )
    if in_memory:
        # Each pooled connection would get its own empty database (or all share one connection).
        raise ValueError(
            "SQLite needs a database file (sqlite+aiosqlite:///path/to/chatservice.db), "
            "not an in-memory database"
        )
    if not database.startswith("file:"):
        folder = Path(database).parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StorageUnavailable(
                f"cannot create the SQLite database's folder {folder}: {error.strerror}"
            ) from error


def _configure_sqlite(engine: AsyncEngine) -> None:
    # Listener arguments are the driver's connection objects: untyped at this library boundary.
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Stop the driver from emitting its own BEGIN; `_on_begin` does it instead.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        write = connection.get_execution_options().get(_WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
