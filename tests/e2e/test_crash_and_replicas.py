"""Processes dying and processes racing: nothing half-written, nothing lost, on both databases.

Each test runs real `chatservice serve` processes against the session's SQLite file or MariaDB
database (tests/conftest.py).
"""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.process import ServiceProcess, start_service

TOKEN = "crash-token"
HEADERS = {"Authorization": TOKEN}


def serve(database_url: str, cwd: Path, **settings: str) -> ServiceProcess:
    env = {"CHATSERVICE_DATABASE_URL": database_url, "CHATSERVICE_AUTH_TOKENS": TOKEN}
    env |= {f"CHATSERVICE_{name.upper()}": value for name, value in settings.items()}
    return start_service(env, cwd=cwd)


def assert_well_formed(chat: dict[str, Any]) -> None:
    """Positions 0..n without gaps, the system message first, then whole exchanges only."""
    messages = chat["messages"]
    assert [m["position"] for m in messages] == list(range(len(messages)))
    roles = [m["role"] for m in messages]
    assert roles[0] == "system"
    assert roles[1:] == ["user", "assistant"] * ((len(roles) - 1) // 2), roles
    assert len(roles) % 2 == 1


async def turn(http: httpx.AsyncClient, user: str, chat_id: str, text: str) -> int:
    try:
        response = await http.post(
            f"/v1/users/{user}/chats/{chat_id}/messages", json={"content": text}
        )
    except httpx.TransportError:
        return 0  # the process died under the request
    return response.status_code


async def test_sigkill_mid_turn_leaves_every_chat_whole_and_claims_lapse(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    users = [f"crash-{request.node.callspec.id}-{i}" for i in range(6)]
    slow = {"fake_chunk_delay_ms": "40", "claim_ttl_seconds": "3", "openai_turn_timeout": "1"}
    service = serve(database_url, tmp_path, **slow)
    async with httpx.AsyncClient(base_url=service.http_url, headers=HEADERS, timeout=30) as http:
        chats = [(await http.post(f"/v1/users/{u}/chats", json={})).json()["id"] for u in users]
        for user, chat_id in zip(users, chats, strict=True):
            assert await turn(http, user, chat_id, "a turn that lands") == 200
        in_flight = [
            asyncio.create_task(turn(http, user, chat_id, "a turn the crash interrupts"))
            for user, chat_id in zip(users, chats, strict=True)
        ]
        await asyncio.sleep(0.3)
        service.stop(signal.SIGKILL)
        assert await asyncio.gather(*in_flight) == [0] * len(users)

    restarted = serve(database_url, tmp_path)
    try:
        async with httpx.AsyncClient(
            base_url=restarted.http_url, headers=HEADERS, timeout=30
        ) as http:
            for user, chat_id in zip(users, chats, strict=True):
                chat = (await http.get(f"/v1/users/{user}/chats/{chat_id}")).json()
                assert_well_formed(chat)
                assert len(chat["messages"]) == 3  # the interrupted turn left nothing
            # The dead process's claims hold until they expire, then lapse by themselves.
            assert await turn(http, users[0], chats[0], "too soon") == 409
            await asyncio.sleep(3)
            for user, chat_id in zip(users, chats, strict=True):
                assert await turn(http, user, chat_id, "after the claims lapsed") == 200
    finally:
        assert restarted.stop() == 0


async def test_two_replicas_racing_on_the_same_chats_lose_nothing(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    users = [f"race-{request.node.callspec.id}-{i}" for i in range(4)]
    replicas = [serve(database_url, tmp_path, fake_chunk_delay_ms="2") for _ in range(2)]
    statuses: Counter[int] = Counter()
    try:
        clients = [
            httpx.AsyncClient(base_url=r.http_url, headers=HEADERS, timeout=30) for r in replicas
        ]
        chats = [
            (await clients[0].post(f"/v1/users/{u}/chats", json={})).json()["id"] for u in users
        ]
        successes: Counter[str] = Counter()
        for round_number in range(5):
            calls = [
                (user, chat_id, clients[(i + attempt) % 2], attempt)
                for i, (user, chat_id) in enumerate(zip(users, chats, strict=True))
                for attempt in range(6)
            ]
            results = await asyncio.gather(
                *(
                    turn(client, user, chat_id, f"round {round_number} attempt {attempt}")
                    for user, chat_id, client, attempt in calls
                )
            )
            for (_, chat_id, _, _), status in zip(calls, results, strict=True):
                statuses[status] += 1
                if status == 200:
                    successes[chat_id] += 1
        assert set(statuses) <= {200, 409}, statuses
        for user, chat_id in zip(users, chats, strict=True):
            for client in clients:  # either replica sees the same, whole history
                chat = (await client.get(f"/v1/users/{user}/chats/{chat_id}")).json()
                assert_well_formed(chat)
                assert (len(chat["messages"]) - 1) // 2 == successes[chat_id] >= 5
        for client in clients:
            await client.aclose()
    finally:
        for replica in replicas:
            assert replica.stop() == 0
    assert statuses[409] > 0, "the replicas never raced"
