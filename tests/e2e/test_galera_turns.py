"""Turns on a three-node MariaDB Galera cluster: replicas racing through different nodes, and a
node killed under load.

The replicas are real `chatservice serve` processes, each on one node. Reads that check what was
stored go through another node with `wsrep_sync_wait = 1` (a causal read: the node first applies
every write the cluster committed before it), so nothing waits for replication by time.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import bindparam, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from chatservice.adapters.sqlalchemy.engine import create_engine
from chatservice.adapters.sqlalchemy.tables import chats, messages
from support.galera import GaleraCluster
from support.process import ServiceProcess, start_service
from support.waiting import eventually

TOKEN = "galera-token"
HEADERS = {"Authorization": TOKEN}
#: Galera's counters of local transactions that lost to another node's write-set: at
#: certification, or aborted by it while still running ("brute force").
CONFLICT_COUNTERS = ("wsrep_local_cert_failures", "wsrep_local_bf_aborts")


@contextmanager
def replicas_on(cluster: GaleraCluster, nodes: list[int], cwd: Path) -> Iterator[list[str]]:
    """A `chatservice serve` process on each of `nodes`; yields their HTTP base URLs."""
    started: list[ServiceProcess] = []
    try:
        for node in nodes:
            env = {
                "CHATSERVICE_DATABASE_URL": cluster.url(node),
                "CHATSERVICE_AUTH_TOKENS": TOKEN,
                "CHATSERVICE_FAKE_CHUNK_DELAY_MS": "2",
            }
            started.append(start_service(env, cwd=cwd))
        yield [replica.http_url for replica in started]
    finally:
        for replica in started:
            replica.stop()
        for replica in started:
            assert replica.process.returncode == 0, "\n".join(replica.printed)


async def conflicts_counted(cluster: GaleraCluster, nodes: list[int]) -> int:
    total = 0
    for node in nodes:
        engine = create_engine(cluster.url(node))
        try:
            async with engine.connect() as connection:
                rows = await connection.execute(
                    text("SHOW GLOBAL STATUS WHERE Variable_name IN :names").bindparams(
                        bindparam("names", expanding=True)
                    ),
                    {"names": list(CONFLICT_COUNTERS)},
                )
                total += sum(int(value) for _, value in rows)
        finally:
            await engine.dispose()
    return total


async def stored_messages(engine: AsyncEngine, chat_id: str) -> tuple[int, list[Any]]:
    """The chat's version and its messages in order, read causally (after every write the
    cluster committed)."""
    async with engine.connect() as connection:
        await connection.execute(text("SET SESSION wsrep_sync_wait = 1"))
        version = await connection.scalar(select(chats.c.version).where(chats.c.id == chat_id))
        rows = await connection.execute(
            select(messages.c.position, messages.c.role, messages.c.id)
            .where(messages.c.chat_id == chat_id)
            .order_by(messages.c.position)
        )
        return version, list(rows)


async def turn(http: httpx.AsyncClient, user: str, chat_id: str, text: str) -> httpx.Response:
    return await http.post(f"/v1/users/{user}/chats/{chat_id}/messages", json={"content": text})


def outcome(response: httpx.Response) -> str:
    """`200`, or the status and the error code, e.g. `503 storage_unavailable`."""
    if response.status_code == 200:
        return "200"
    return f"{response.status_code} {response.json()['error']['code']}"


async def new_chat(http: httpx.AsyncClient, user: str) -> str:
    created = await http.post(f"/v1/users/{user}/chats", json={})
    assert created.status_code == 201, created.text
    chat_id: str = created.json()["id"]
    return chat_id


async def test_replicas_on_two_nodes_racing_on_the_same_chats_lose_nothing(
    migrated_galera_cluster: GaleraCluster, tmp_path: Path
) -> None:
    cluster = migrated_galera_cluster
    users = [f"galera-race-{i}" for i in range(4)]
    rounds, attempts = 5, 6
    conflicts_before = await conflicts_counted(cluster, [1, 2])
    with replicas_on(cluster, [1, 2], tmp_path) as urls:
        clients = [httpx.AsyncClient(base_url=u, headers=HEADERS, timeout=60) for u in urls]
        try:
            chat_ids = [await new_chat(clients[0], user) for user in users]
            statuses: Counter[str] = Counter()
            replies: dict[str, list[str]] = {chat_id: [] for chat_id in chat_ids}
            for round_number in range(rounds):
                calls = [
                    (user, chat_id, clients[(i + attempt) % 2])
                    for i, (user, chat_id) in enumerate(zip(users, chat_ids, strict=True))
                    for attempt in range(attempts)
                ]
                answers = await asyncio.gather(
                    *(
                        turn(client, user, chat_id, f"round {round_number}")
                        for user, chat_id, client in calls
                    )
                )
                for (_, chat_id, _), answer in zip(calls, answers, strict=True):
                    statuses[outcome(answer)] += 1
                    if answer.status_code == 200:
                        replies[chat_id].append(answer.json()["message"]["id"])
        finally:
            for client in clients:
                await client.aclose()
    conflicts = await conflicts_counted(cluster, [1, 2]) - conflicts_before
    print(f"statuses {dict(statuses)}; Galera conflicts on nodes 1 and 2: {conflicts}")

    assert set(statuses) <= {"200", "409 turn_in_progress", "409 concurrent_update"}, statuses
    node_3 = create_engine(cluster.url(3))
    try:
        for chat_id in chat_ids:
            version, rows = await stored_messages(node_3, chat_id)
            assert [r.position for r in rows] == list(range(len(rows)))
            assert [r.role for r in rows] == ["system"] + ["user", "assistant"] * len(
                replies[chat_id]
            )
            assert version == len(replies[chat_id])
            stored_replies = [r.id for r in rows if r.role == "assistant"]
            assert sorted(stored_replies) == sorted(replies[chat_id])
            assert len(replies[chat_id]) >= rounds  # every round, one turn per chat landed
    finally:
        await node_3.dispose()
    assert conflicts > 0, "no transaction lost to another node's: the replicas never raced"


@dataclass(frozen=True)
class Turn:
    node: int
    outcome: str
    began: float
    ended: float


async def keep_taking_turns(
    http: httpx.AsyncClient, node: int, user: str, turns: list[Turn], stop: asyncio.Event
) -> None:
    """Turns on one chat, back to back, until `stop` is set or one of them is not a 200."""
    loop = asyncio.get_running_loop()
    chat_id = await new_chat(http, user)
    while not stop.is_set():
        began = loop.time()
        answer = outcome(await turn(http, user, chat_id, f"turn {len(turns)}"))
        turns.append(Turn(node, answer, began, loop.time()))
        if answer != "200":
            return


async def readyz_answers(http: httpx.AsyncClient, status: int) -> bool:
    return (await http.get("/readyz")).status_code == status


async def test_a_node_killed_under_load_fails_no_turn_elsewhere_and_its_replica_recovers(
    migrated_galera_cluster: GaleraCluster, tmp_path: Path, node_2_restored: None
) -> None:
    cluster = migrated_galera_cluster
    loop = asyncio.get_running_loop()
    nodes = [1, 2, 3]
    turns: list[Turn] = []
    stop = asyncio.Event()
    with replicas_on(cluster, nodes, tmp_path) as urls:
        clients = {
            node: httpx.AsyncClient(base_url=url, headers=HEADERS, timeout=120)
            for node, url in zip(nodes, urls, strict=True)
        }
        try:
            load = [
                asyncio.create_task(
                    keep_taking_turns(clients[node], node, f"galera-kill-{node}-{i}", turns, stop)
                )
                for node in nodes
                for i in range(2)
            ]
            await eventually(lambda: len(turns) >= 20, "the replicas took turns")

            killed_at = loop.time()
            await asyncio.to_thread(cluster.kill, 2)
            await eventually(
                lambda: any(t.node == 2 and t.outcome != "200" for t in turns),
                "the replica on the killed node refused a turn",
            )
            refused_at = loop.time()
            await eventually(
                lambda: readyz_answers(clients[2], 503),
                "the replica on the killed node is not ready",
            )
            unready_at = loop.time()

            def survivors_turns_begun_after(moment: float) -> Counter[int]:
                return Counter(t.node for t in turns if t.node != 2 and t.began > moment)

            await eventually(
                lambda: min(survivors_turns_begun_after(unready_at)[n] for n in (1, 3)) >= 10,
                "the replicas on the other nodes went on",
                within=120,
            )

            restarting_at = loop.time()
            await asyncio.to_thread(cluster.restart, 2)
            synced_at = loop.time()
            await eventually(lambda: readyz_answers(clients[2], 200), "the replica is ready again")
            ready_at = loop.time()
            after = await turn(
                clients[2],
                "galera-kill-after",
                await new_chat(clients[2], "galera-kill-after"),
                "back",
            )
            assert outcome(after) == "200"
            await eventually(
                lambda: min(survivors_turns_begun_after(ready_at)[n] for n in (1, 3)) >= 5,
                "the replicas on the other nodes went on while node 2 rejoined",
                within=120,
            )
            stop.set()
            await asyncio.gather(*load)
        finally:
            stop.set()
            for client in clients.values():
                await client.aclose()

    survivors = [t for t in turns if t.node != 2]
    longest = max(survivors, key=lambda t: t.ended - t.began)
    print(
        f"turns: {Counter((t.node, t.outcome) for t in turns)}; "
        f"node 2 killed: first refused turn after {refused_at - killed_at:.2f} s, "
        f"/readyz 503 after {unready_at - killed_at:.2f} s; "
        f"longest survivor turn {longest.ended - longest.began:.2f} s "
        f"(began {longest.began - killed_at:+.2f} s from the kill); "
        f"restart to Synced {synced_at - restarting_at:.2f} s, "
        f"then /readyz 200 after {ready_at - synced_at:.2f} s"
    )
    assert {t.outcome for t in survivors} == {"200"}
    assert {t.outcome for t in turns if t.node == 2} <= {"200", "503 storage_unavailable"}
