"""The test Galera cluster itself: nodes replicate, survive a SIGKILLed peer, and catch up.

Reads use `wsrep_sync_wait = 1` (a causal read: the node first applies every write the cluster
committed before the read), so no test waits for replication by time.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import bindparam, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from support.galera import NODES, GaleraCluster


@pytest.fixture
async def engines(galera_cluster: GaleraCluster) -> AsyncIterator[dict[int, AsyncEngine]]:
    by_node = {node: create_async_engine(galera_cluster.url(node)) for node in NODES}
    async with by_node[1].begin() as connection:
        await connection.execute(
            text(
                "CREATE TABLE IF NOT EXISTS notes "
                "(id BIGINT AUTO_INCREMENT PRIMARY KEY, body VARCHAR(64) NOT NULL)"
            )
        )
    try:
        yield by_node
    finally:
        for engine in by_node.values():
            await engine.dispose()


async def write(engine: AsyncEngine, body: str) -> None:
    async with engine.begin() as connection:
        await connection.execute(text("INSERT INTO notes (body) VALUES (:body)"), {"body": body})


async def causal_read(engine: AsyncEngine, bodies: list[str]) -> set[str]:
    async with engine.connect() as connection:
        await connection.execute(text("SET SESSION wsrep_sync_wait = 1"))
        rows = await connection.execute(
            text("SELECT body FROM notes WHERE body IN :bodies").bindparams(
                bindparam("bodies", expanding=True)
            ),
            {"bodies": bodies},
        )
        return {row.body for row in rows}


def fresh(label: str) -> str:
    return f"{label}-{secrets.token_hex(8)}"


async def test_a_row_written_through_node_1_is_read_through_node_3(
    engines: dict[int, AsyncEngine],
) -> None:
    body = fresh("hello")

    await write(engines[1], body)

    assert await causal_read(engines[3], [body]) == {body}


async def test_survivors_keep_writing_while_a_killed_node_is_down_and_it_catches_up_on_restart(
    galera_cluster: GaleraCluster, engines: dict[int, AsyncEngine], node_2_restored: None
) -> None:
    before = fresh("before")
    await write(engines[1], before)

    galera_cluster.kill(2)
    with pytest.raises(OperationalError):
        await write(engines[2], fresh("lost"))
    during = [fresh("during-node-1"), fresh("during-node-3")]
    await write(engines[1], during[0])
    await write(engines[3], during[1])
    assert await causal_read(engines[1], during) == set(during)

    galera_cluster.restart(2)

    assert await causal_read(engines[2], [before, *during]) == {before, *during}
