"""The database failing under the service: connections killed, the server unreachable or
hanging, a Galera node cut off from its cluster.

Never the machine's shared server itself: the outage is a TCP proxy in front of it, cut or
stalled by the test; the killed connections are only the ones this test's service opened.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from chatservice.adapters.fake_gateway import FakeChatGateway
from support.clock import AdjustableClock
from support.databases import MYSQL_URL
from support.galera import GaleraCluster
from support.http import AUTH, Api, api_factory, unique_user
from support.tcp_proxy import TcpProxy, tcp_proxy
from support.waiting import GENEROUS_SECONDS, eventually

pytestmark = pytest.mark.mariadb


@pytest.fixture
async def proxy(mariadb_database_url: str) -> AsyncIterator[TcpProxy]:
    url = make_url(mariadb_database_url)
    async with tcp_proxy(url.host or "127.0.0.1", url.port or 3306) as running:
        yield running


def through(proxy: TcpProxy, database_url: str) -> str:
    return make_url(database_url).set(port=proxy.port).render_as_string(hide_password=False)


async def stored(database_url: str, chat_id: str) -> list[Any]:
    """The chat's rows, read directly (not through the proxy)."""
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            chat = (
                await connection.execute(
                    sa.text("SELECT version, claim_request_id FROM chats WHERE id = :id"),
                    {"id": chat_id.encode()},
                )
            ).one()
            roles = (
                await connection.execute(
                    sa.text("SELECT role FROM messages WHERE chat_id = :id ORDER BY position"),
                    {"id": chat_id.encode()},
                )
            ).scalars()
            return [tuple(chat), list(roles)]
    finally:
        await engine.dispose()


async def post_message(api: Api, user: str, chat_id: str, content: str) -> Any:
    return await api.client.post(
        f"/v1/users/{user}/chats/{chat_id}/messages", json={"content": content}, headers=AUTH
    )


async def test_an_outage_is_503_readyz_fails_nothing_is_written_and_the_service_recovers(
    proxy: TcpProxy, mariadb_database_url: str, request: pytest.FixtureRequest
) -> None:
    u = unique_user("u", request)
    async with api_factory(through(proxy, mariadb_database_url))() as api:
        chat = await api.new_chat(u)
        await api.say(u, chat["id"], "before the outage")
        before = await stored(mariadb_database_url, chat["id"])

        await proxy.cut()
        refused = await post_message(api, u, chat["id"], "during the outage")
        assert refused.status_code == 503
        assert refused.json()["error"]["code"] == "storage_unavailable"
        assert (await api.client.get("/readyz")).status_code == 503
        read = await api.client.get(f"/v1/users/{u}/chats/{chat['id']}", headers=AUTH)
        assert read.status_code == 503
        compat = await api.client.post(
            "/chat", json={"user_id": u, "user_message": "hi"}, headers=AUTH
        )
        assert compat.status_code == 503  # never a silent new chat
        assert await stored(mariadb_database_url, chat["id"]) == before

        await proxy.restore()
        assert (await api.client.get("/readyz")).status_code == 200
        after = await post_message(api, u, chat["id"], "after the outage")
        assert after.status_code == 200, after.text
        roles = (await stored(mariadb_database_url, chat["id"]))[1]
        assert roles == ["system", "user", "assistant", "user", "assistant"]


async def test_an_outage_mid_turn_stores_nothing_and_the_claim_lapses(
    proxy: TcpProxy, mariadb_database_url: str, request: pytest.FixtureRequest
) -> None:
    u = unique_user("u", request)
    clock = AdjustableClock()
    async with api_factory(through(proxy, mariadb_database_url))(clock=clock) as api:
        chat = await api.new_chat(u)
        fake = api.container.gateway()
        assert isinstance(fake, FakeChatGateway)
        hold = fake.hold(after_chunks=1)
        turn = asyncio.create_task(post_message(api, u, chat["id"], "the model is answering"))
        await hold.reached()  # the claim is taken
        await proxy.cut()
        hold.release()
        response = await turn
        assert response.status_code == 503
        (version, claim), roles = await stored(mariadb_database_url, chat["id"])
        assert (version, roles) == (0, ["system"])
        assert claim is not None  # releasing it needed the database too

        await proxy.restore()
        blocked = await post_message(api, u, chat["id"], "too soon")
        assert blocked.status_code == 409
        clock.advance(api.container.settings().claim_ttl_seconds)
        retried = await post_message(api, u, chat["id"], "after the claim lapsed")
        assert retried.status_code == 200, retried.text


async def kill_connections_of(database: str) -> int:
    admin = create_async_engine(MYSQL_URL)
    try:
        async with admin.connect() as connection:
            ids = (
                await connection.execute(
                    sa.text(
                        "SELECT ID FROM information_schema.PROCESSLIST "
                        "WHERE DB = :db AND ID <> CONNECTION_ID()"
                    ),
                    {"db": database},
                )
            ).scalars()
            killed = 0
            for connection_id in list(ids):
                await connection.execute(sa.text(f"KILL CONNECTION {int(connection_id)}"))
                killed += 1
            return killed
    finally:
        await admin.dispose()


async def test_killed_connections_are_replaced_without_failing_a_request(
    mariadb_database_url: str, request: pytest.FixtureRequest
) -> None:
    u = unique_user("u", request)
    database = make_url(mariadb_database_url).database or ""
    async with api_factory(mariadb_database_url)() as api:
        chat = await api.new_chat(u)
        await api.say(u, chat["id"], "warm the pool")
        assert await kill_connections_of(database) >= 1
        assert (await post_message(api, u, chat["id"], "after the kill")).status_code == 200

        fake = api.container.gateway()
        assert isinstance(fake, FakeChatGateway)
        hold = fake.hold(after_chunks=1)
        turn = asyncio.create_task(post_message(api, u, chat["id"], "killed while streaming"))
        await hold.reached()  # the claim is taken, the model is answering
        await kill_connections_of(database)
        hold.release()
        assert (await turn).status_code == 200  # no connection is held while the model streams
        roles = (await stored(mariadb_database_url, chat["id"]))[1]
        assert roles == ["system"] + ["user", "assistant"] * 3


async def test_a_database_that_stops_answering_is_503_not_a_hang_and_the_service_recovers(
    proxy: TcpProxy, mariadb_database_url: str, request: pytest.FixtureRequest
) -> None:
    u = unique_user("u", request)
    open_api = api_factory(through(proxy, mariadb_database_url))
    async with open_api(database_read_timeout=1, database_connect_timeout=1) as api:
        chat = await api.new_chat(u)
        await api.say(u, chat["id"], "before the database hangs")
        before = await stored(mariadb_database_url, chat["id"])

        proxy.stall()  # connections stay open, the server's answers never arrive
        async with asyncio.timeout(GENEROUS_SECONDS):
            refused = await post_message(api, u, chat["id"], "while it hangs")
            readiness = await api.client.get("/readyz")
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"]["code"] == "storage_unavailable"
        assert readiness.status_code == 503
        assert await stored(mariadb_database_url, chat["id"]) == before

        await proxy.restore()
        assert (await api.client.get("/readyz")).status_code == 200
        assert (await post_message(api, u, chat["id"], "after")).status_code == 200


async def readyz_answers(api: Api, status: int) -> bool:
    return (await api.client.get("/readyz")).status_code == status


async def test_a_galera_node_outside_the_primary_component_is_503_until_it_rejoins(
    migrated_galera_cluster: GaleraCluster,
    node_2_restored: None,
    request: pytest.FixtureRequest,
) -> None:
    cluster = migrated_galera_cluster
    u = unique_user("u", request)
    async with api_factory(cluster.url(2))() as api:
        chat = await api.new_chat(u)
        await api.say(u, chat["id"], "before node 2 is cut off")

        # Node 2 runs on and takes connections, but refuses every query that reads a table
        # (1047, "WSREP has not yet prepared node for application use"): `SELECT 1` still works.
        await asyncio.to_thread(cluster.isolate, 2)
        await eventually(lambda: readyz_answers(api, 503), "node 2 is not ready")
        refused = await post_message(api, u, chat["id"], "while node 2 is cut off")
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"] == {
            "code": "storage_unavailable",
            "message": "the database is unavailable (OperationalError 1047)",
        }
        read = await api.client.get(f"/v1/users/{u}/chats/{chat['id']}", headers=AUTH)
        assert read.status_code == 503

        await asyncio.to_thread(cluster.restart, 2)
        await eventually(lambda: readyz_answers(api, 200), "node 2 is ready again")
        assert (await post_message(api, u, chat["id"], "after it rejoined")).status_code == 200
