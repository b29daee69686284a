"""The adapters of the `ChatRepository` contract: in memory, and SQL on SQLite and MariaDB, with
and without the window cache."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from chatservice.adapters.memory_repository.repository import InMemoryChatRepository
from chatservice.adapters.sqlalchemy.engine import create_engine
from chatservice.adapters.sqlalchemy.repository import SqlAlchemyChatRepository
from chatservice.application.ports import ChatRepository
from support.databases import connection_threads_finished


@pytest.fixture(
    params=[
        "memory",
        "sqlite",
        "sqlite-uncached",
        pytest.param("mariadb", marks=pytest.mark.mariadb),
        pytest.param("mariadb-uncached", marks=pytest.mark.mariadb),
    ]
)
def repository_url(request: pytest.FixtureRequest) -> str | None:
    """The database behind the adapter under test; `None` for the in-memory one. "-uncached":
    the SQL adapter without its window cache, so every claim reads the window's rows."""
    if request.param == "memory":
        return None
    url: str = request.getfixturevalue(f"{request.param.split('-')[0]}_database_url")
    return url


@pytest.fixture
async def repository(
    repository_url: str | None, request: pytest.FixtureRequest
) -> AsyncIterator[ChatRepository]:
    if repository_url is None:
        yield InMemoryChatRepository()
        return
    engine = create_engine(repository_url)
    cache_bytes = (
        0 if request.node.callspec.params["repository_url"].endswith("-uncached") else 2**20
    )
    try:
        yield SqlAlchemyChatRepository(engine, window_cache_bytes=cache_bytes)
    finally:
        await engine.dispose()
        await connection_threads_finished()


@pytest.fixture(params=["memory", "sqlite", pytest.param("mariadb", marks=pytest.mark.mariadb)])
def store_url(request: pytest.FixtureRequest) -> str | None:
    """The database behind a store under test (beside the chats it refers to); `None` for the
    in-memory adapter."""
    if request.param == "memory":
        return None
    url: str = request.getfixturevalue(f"{request.param}_database_url")
    return url
