"""Shared fixtures: a freshly migrated SQLite file and MariaDB database per test run, the test
Redis, and a three-node MariaDB Galera cluster for the tests that ask for one.

Tests isolate themselves with fresh uuid user ids, so the databases are never truncated. The
MariaDB tests are never skipped: an unreachable server fails them, saying how to point them
elsewhere (`CHATSERVICE_TEST_MYSQL_URL`).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from chatservice.adapters.sqlalchemy.engine import create_engine
from chatservice.adapters.sqlalchemy.migrations import AlembicMigrations
from chatservice.adapters.sqlalchemy.repository import SqlAlchemyChatRepository
from chatservice.entrypoints.settings import Settings
from support.databases import MYSQL_URL, execute_on_server
from support.galera import GaleraCluster, GaleraClusterError, running_galera_cluster
from support.redis import REDIS_URL, redis_answers

#: The database engines every SQL test runs on; the MariaDB one is marked `mariadb`.
DATABASES = ["sqlite", pytest.param("mariadb", marks=pytest.mark.mariadb)]


@pytest.fixture(scope="session")
def sqlite_database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path: Path = tmp_path_factory.mktemp("sqlite") / "chatservice.db"
    url = f"sqlite+aiosqlite:///{path}"
    AlembicMigrations(url).upgrade_to_head()
    return url


@pytest.fixture(scope="session")
def mariadb_database_url() -> Iterator[str]:
    # The server default collation, deliberately: the columns' own collations must win.
    name = f"chatservice_test_{secrets.token_hex(6)}"
    try:
        asyncio.run(
            execute_on_server(
                f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci"
            )
        )
    except Exception as error:
        pytest.fail(
            f"MariaDB/MySQL is unreachable at {make_url(MYSQL_URL)} "
            f"({type(error).__name__}: {error}); start it or set CHATSERVICE_TEST_MYSQL_URL",
            pytrace=False,
        )
    url = make_url(MYSQL_URL).set(database=name).render_as_string(hide_password=False)
    try:
        AlembicMigrations(url).upgrade_to_head()
        yield url
    finally:
        asyncio.run(execute_on_server(f"DROP DATABASE {name}"))


@pytest.fixture(scope="session", params=DATABASES)
def database_url(request: pytest.FixtureRequest) -> str:
    """The URL of a migrated database of each kind; each is created on first use only."""
    url: str = request.getfixturevalue(f"{request.param}_database_url")
    return url


@pytest.fixture
async def sql_repository(database_url: str) -> AsyncIterator[SqlAlchemyChatRepository]:
    engine = create_engine(database_url)
    try:
        yield SqlAlchemyChatRepository(engine, Settings().window_cache_bytes)
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The test Redis (scripts/ensure-redis starts it); never skipped: one that does not answer
    fails the test, saying how to point it elsewhere (`CHATSERVICE_TEST_REDIS_URL`)."""
    if problem := redis_answers():
        pytest.fail(
            f"Redis is unreachable at {REDIS_URL} ({problem}); run scripts/ensure-redis "
            "or set CHATSERVICE_TEST_REDIS_URL",
            pytrace=False,
        )
    return REDIS_URL


@pytest.fixture(scope="session")
def galera_cluster() -> Iterator[GaleraCluster]:
    """Three MariaDB Galera nodes on loopback with a fresh database, for the whole session.

    Started on first use by scripts/galera-cluster (which installs what is missing) and stopped
    at the end; never skipped: a cluster that cannot start fails the test, saying why.
    """
    with ExitStack() as stack:
        try:
            cluster = stack.enter_context(running_galera_cluster())
        except GaleraClusterError as error:
            pytest.fail(f"the Galera test cluster did not start: {error}", pytrace=False)
        yield cluster


@pytest.fixture
def node_2_restored(galera_cluster: GaleraCluster) -> Iterator[None]:
    """Whatever the test does to node 2, the next test finds all three nodes Synced."""
    try:
        yield
    finally:
        galera_cluster.restart(2)


@pytest.fixture(scope="session")
def migrated_galera_cluster(galera_cluster: GaleraCluster) -> GaleraCluster:
    """The Galera cluster with the service's schema in its database (migrated through node 1)."""
    AlembicMigrations(galera_cluster.url(1)).upgrade_to_head()
    return galera_cluster
