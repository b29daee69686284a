"""The `Leases` contract, held against every adapter: in memory, SQLite and MariaDB."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from chatservice.adapters.memory_leases import InMemoryLeases
from chatservice.adapters.sqlalchemy.engine import create_engine
from chatservice.adapters.sqlalchemy.leases import SqlAlchemyLeases
from chatservice.application.ports import Leases
from support.databases import connection_threads_finished

T0 = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)


@pytest.fixture(params=["memory", "sqlite", pytest.param("mariadb", marks=pytest.mark.mariadb)])
def leases_url(request: pytest.FixtureRequest) -> str | None:
    """The database behind the adapter under test; `None` for the in-memory one."""
    if request.param == "memory":
        return None
    url: str = request.getfixturevalue(f"{request.param}_database_url")
    return url


@pytest.fixture
async def leases(leases_url: str | None) -> AsyncIterator[Leases]:
    if leases_url is None:
        yield InMemoryLeases()
        return
    engine = create_engine(leases_url)
    try:
        yield SqlAlchemyLeases(engine)
    finally:
        await engine.dispose()
        await connection_threads_finished()


def new_lease() -> str:
    return f"lease-{uuid.uuid4().hex[:12]}"


async def test_a_free_lease_is_taken_and_refused_to_others_until_it_expires(
    leases: Leases,
) -> None:
    name = new_lease()

    assert await leases.acquire(name, "a", T0, 60) is True
    assert await leases.acquire(name, "b", T0 + timedelta(seconds=59), 60) is False
    assert await leases.acquire(name, "b", T0 + timedelta(seconds=60), 60) is True
    assert await leases.acquire(name, "a", T0 + timedelta(seconds=61), 60) is False


async def test_the_holder_renews_its_lease(leases: Leases) -> None:
    name = new_lease()
    await leases.acquire(name, "a", T0, 60)

    assert await leases.acquire(name, "a", T0 + timedelta(seconds=50), 60) is True
    assert await leases.acquire(name, "b", T0 + timedelta(seconds=100), 60) is False


async def test_leases_are_independent_of_each_other(leases: Leases) -> None:
    first, second = new_lease(), new_lease()
    assert await leases.acquire(first, "a", T0, 60) is True
    assert await leases.acquire(second, "b", T0, 60) is True


@pytest.mark.parametrize("taken_before", [False, True], ids=["new", "expired"])
async def test_only_one_of_many_simultaneous_holders_gets_a_lease(
    leases: Leases, taken_before: bool
) -> None:
    name = new_lease()
    if taken_before:
        await leases.acquire(name, "gone", T0 - timedelta(hours=1), 60)

    taken = await asyncio.gather(*(leases.acquire(name, f"h{i}", T0, 60) for i in range(8)))

    assert sorted(taken) == [False] * 7 + [True]
