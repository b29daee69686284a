"""Erasing a user and retention, on SQLite and MariaDB: nothing of an erased user is left in any
table while everyone else's rows stay as they were; two replicas sweeping at once delete each
expired chat once."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from dependency_injector import providers
from prometheus_client import REGISTRY
from sqlalchemy import MetaData, select
from sqlalchemy.engine import make_url

from chatservice.adapters.fake_gateway import FakeChatGateway
from chatservice.adapters.sqlalchemy.migrations import AlembicMigrations
from chatservice.adapters.sqlalchemy.tables import chats
from chatservice.application.clock import utc_now
from chatservice.application.retention import PruneReport
from chatservice.entrypoints.container import Container
from support.containers import closed_after, service_container
from support.databases import MYSQL_URL, execute_on_server
from support.http import AUTH, Api, unique_user

DATABASES = ["sqlite", pytest.param("mariadb", marks=pytest.mark.mariadb)]

user = unique_user


async def _every_value_stored(container: Container) -> set[object]:
    """Every value of every row of every table the database holds (text, as stored)."""

    def reflected(connection: Any) -> MetaData:  # SQLAlchemy's sync connection
        schema = MetaData()
        schema.reflect(connection)
        return schema

    values: set[object] = set()
    async with container.engine().connect() as connection:
        schema = await connection.run_sync(reflected)
        for table in schema.sorted_tables:
            for row in await connection.execute(select(table)):
                values.update(
                    v.decode(errors="replace") if isinstance(v, bytes) else v for v in row
                )
    return values


async def test_erasing_a_user_leaves_no_row_of_theirs_and_anyone_elses_as_it_was(
    api: Api, request: pytest.FixtureRequest
) -> None:
    # A WhatsApp user's id is their sender address: they have rows in every table.
    erased = f"whatsapp:+{uuid.uuid4().int % 10**12:012d}"
    other = user("other", request)
    directory = api.container.whatsapp_directory()
    theirs: set[str] = {erased}
    for who in (erased, other):
        for i in range(3):
            chat = await api.new_chat(who)
            await api.say(who, chat["id"], f"message {i}")
            stored = await api.client.get(f"/v1/users/{who}/chats/{chat['id']}", headers=AUTH)
            if who == erased:
                theirs |= {chat["id"]} | {m["id"] for m in stored.json()["messages"]}
        sid = f"SM{uuid.uuid4().hex}"
        if who == erased:
            theirs.add(sid)
        await directory.take_message(sid, who, utc_now())
        await directory.switch_chat(who, None, chat["id"], utc_now())
    others_before = await api.snapshot(other)
    assert theirs <= await _every_value_stored(api.container)

    response = await api.client.delete(f"/v1/users/{erased}", headers=AUTH)

    assert response.status_code == 204
    assert theirs.isdisjoint(await _every_value_stored(api.container))
    assert await api.snapshot(other) == others_before
    listing = await api.client.get(f"/v1/users/{erased}/chats", headers=AUTH)
    assert listing.json()["items"] == []
    again = await api.client.delete(f"/v1/users/{erased}", headers=AUTH)
    assert again.status_code == 204


async def test_erasing_a_user_with_a_bad_id_is_400(api: Api) -> None:
    response = await api.client.delete("/v1/users/no%20spaces", headers=AUTH)
    assert response.status_code == 400


class FixedClock:
    """A clock that stands where the test puts it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(params=DATABASES)
def private_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated database of each kind for this test alone: a sweep deletes whatever has
    expired, other tests' chats included, so it runs where there are none."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path}/chatservice.db"
        AlembicMigrations(url).upgrade_to_head()
        yield url
        return
    name = f"chatservice_sweep_{secrets.token_hex(6)}"
    asyncio.run(execute_on_server(f"CREATE DATABASE {name} CHARACTER SET utf8mb4"))
    try:
        url = make_url(MYSQL_URL).set(database=name).render_as_string(hide_password=False)
        AlembicMigrations(url).upgrade_to_head()
        yield url
    finally:
        asyncio.run(execute_on_server(f"DROP DATABASE {name}"))


@asynccontextmanager
async def replica(url: str, clock: FixedClock) -> AsyncIterator[Container]:
    """A replica's container on the shared database, its use cases on `clock`, keeping chats
    30 days and deleting two a transaction."""
    container = service_container(
        {"clock": providers.Object(clock)},
        database_url=url,
        retention_days=30,
        deletion_batch_size=2,
    )
    async with closed_after(container):
        yield container


async def _chats_at(url: str, clock: FixedClock, count: int) -> list[str]:
    """`count` chats with an exchange each, last updated at `clock`'s time."""
    async with replica(url, clock) as container:
        user = f"u-{uuid.uuid4().hex[:8]}"
        ids = []
        for _ in range(count):
            chat = (await container.start_chat()(user)).chat
            async for _event in container.send_message()(user, chat.id, "an old question"):
                pass
            ids.append(chat.id)
        return ids


async def _stored(container: Container, chat_ids: list[str]) -> list[str]:
    async with container.engine().connect() as connection:
        rows = await connection.execute(select(chats.c.id).where(chats.c.id.in_(chat_ids)))
        return sorted(row.id for row in rows)


def _pruned(kind: str) -> float:
    """`chatservice_pruned_total` of `kind`, as `/metrics` shows it (this process's)."""
    return REGISTRY.get_sample_value("chatservice_pruned_total", {"kind": kind}) or 0.0


async def test_two_replicas_sweeping_at_once_delete_each_expired_chat_once(
    private_database_url: str,
) -> None:
    url, then = private_database_url, FixedClock(utc_now())
    expired = await _chats_at(url, then, 7)
    fresh = await _chats_at(url, FixedClock(then.now + timedelta(days=1)), 2)
    now = FixedClock(then.now + timedelta(days=30, hours=1))
    pruned_before = _pruned("chats")
    async with replica(url, now) as a, replica(url, now) as b:
        swept = await asyncio.gather(
            a.retention_sweeper().sweep_once(), b.retention_sweeper().sweep_once()
        )

        assert sorted(swept, key=lambda r: r is not None) == [None, PruneReport(7, 0)]
        assert await _stored(a, expired + fresh) == sorted(fresh)

        # Should two replicas sweep at once all the same (a lease lapsed mid-sweep, or `prune`
        # run beside the sweeper), each chat is still deleted, and counted, once.
        more = await _chats_at(url, then, 9)
        both = await asyncio.gather(a.prune_expired_data()(), b.prune_expired_data()())
        assert sum(report.chats for report in both) == len(more)
        assert _pruned("chats") - pruned_before == len(expired) + len(more)
        assert await _stored(a, more + fresh) == sorted(fresh)


async def test_the_sweep_lease_passes_to_another_replica_once_its_holder_stops_renewing(
    private_database_url: str,
) -> None:
    url, clock = private_database_url, FixedClock(utc_now())
    async with replica(url, clock) as a, replica(url, clock) as b:
        interval = a.settings().retention_sweep_seconds
        assert await a.retention_sweeper().sweep_once() is not None
        clock.now += timedelta(seconds=interval)
        assert await b.retention_sweeper().sweep_once() is None
        assert await a.retention_sweeper().sweep_once() is not None  # renewed
        clock.now += timedelta(seconds=2 * interval)
        assert await b.retention_sweeper().sweep_once() is not None
        assert await a.retention_sweeper().sweep_once() is None


async def test_a_turn_racing_its_users_erasure_fails_cleanly_and_leaves_nothing(
    api: Api, request: pytest.FixtureRequest
) -> None:
    u = user("u", request)
    chat = await api.new_chat(u)
    gateway = api.container.gateway()
    assert isinstance(gateway, FakeChatGateway)
    hold = gateway.hold(after_chunks=1)
    turn = asyncio.create_task(
        api.client.post(
            f"/v1/users/{u}/chats/{chat['id']}/messages", json={"content": "hi"}, headers=AUTH
        )
    )
    try:
        await hold.reached()
        erased = await api.client.delete(f"/v1/users/{u}", headers=AUTH)
    finally:
        hold.release()
    answer = await turn

    assert erased.status_code == 204
    assert answer.status_code == 409, answer.text
    assert answer.json()["error"]["code"] == "concurrent_update"
    assert all(rows == [] for rows in (await api.snapshot(u)).values())
