"""Processes dying and processes racing: nothing half-written, nothing lost, on both databases.

The processes that die or race are real `chatservice serve` processes on the session's SQLite
file or MariaDB database (tests/conftest.py), whose model is the local OpenAI-compatible server
of this test process: the test holds their turns mid-reply and lets go of them. Nothing waits for
time to pass: the dead process's claims lapse for the service that comes after it when that
service's clock is moved past them.
"""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from chatservice.adapters.sqlalchemy.engine import create_engine
from chatservice.adapters.sqlalchemy.tables import chats
from chatservice.application.clock import utc_now
from support.clock import AdjustableClock
from support.http import AUTH, api_factory
from support.openai_server import OpenAICompatibleServer, running_openai_server
from support.process import ServiceProcess, start_service
from support.waiting import eventually

TOKEN = "crash-token"
HEADERS = {"Authorization": TOKEN}
HOUR_S = 3600


async def serve(
    database_url: str, cwd: Path, model: OpenAICompatibleServer, **settings: str
) -> ServiceProcess:
    env = {
        "CHATSERVICE_DATABASE_URL": database_url,
        "CHATSERVICE_AUTH_TOKENS": TOKEN,
        "CHATSERVICE_GATEWAY": "openai",
        "CHATSERVICE_OPENAI_BASE_URL": model.base_url,
    }
    env |= {f"CHATSERVICE_{name.upper()}": value for name, value in settings.items()}
    # In a thread: the model's server runs on this test's event loop.
    return await asyncio.to_thread(start_service, env, cwd)


def assert_well_formed(chat: dict[str, Any]) -> None:
    """Positions 0..n without gaps, the system message first, then whole exchanges only."""
    messages = chat["messages"]
    assert [m["position"] for m in messages] == list(range(len(messages)))
    roles = [m["role"] for m in messages]
    assert roles[0] == "system"
    assert roles[1:] == ["user", "assistant"] * ((len(roles) - 1) // 2), roles
    assert len(roles) % 2 == 1


async def turn(
    http: httpx.AsyncClient,
    user: str,
    chat_id: str,
    text: str,
    headers: dict[str, str] | None = None,
) -> int:
    try:
        response = await http.post(
            f"/v1/users/{user}/chats/{chat_id}/messages", json={"content": text}, headers=headers
        )
    except httpx.TransportError:
        return 0  # the process died under the request
    return response.status_code


async def stored_claims(database_url: str, chat_ids: list[str]) -> dict[str, datetime | None]:
    """When each chat's claim expires, as stored (`None`: the chat is not claimed)."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                select(chats.c.id, chats.c.claim_expires_at).where(chats.c.id.in_(chat_ids))
            )
            return {row.id: row.claim_expires_at for row in rows}
    finally:
        await engine.dispose()


async def test_sigkill_mid_turn_leaves_every_chat_whole_and_claims_lapse(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    users = [f"crash-{request.node.callspec.id}-{i}" for i in range(6)]
    async with api_factory(database_url)() as before_the_crash:
        chat_ids = [(await before_the_crash.new_chat(u))["id"] for u in users]
        for user, chat_id in zip(users, chat_ids, strict=True):
            await before_the_crash.say(user, chat_id, "a turn that lands")

    async with running_openai_server() as model:
        # Every turn is held by its model before the first word: mid-way when the process dies.
        hold = model.hold(after_chunks=0)
        half_an_hour = str(HOUR_S // 2)  # the held model never times out meanwhile
        service = await serve(
            database_url,
            tmp_path,
            model,
            claim_ttl_seconds=str(HOUR_S),
            openai_idle_timeout=half_an_hour,
            openai_turn_timeout=half_an_hour,
        )
        sent_at = utc_now()
        async with httpx.AsyncClient(
            base_url=service.http_url, headers=HEADERS, timeout=30
        ) as http:
            in_flight = [
                asyncio.create_task(turn(http, user, chat_id, "a turn the crash interrupts"))
                for user, chat_id in zip(users, chat_ids, strict=True)
            ]
            await hold.reached(streams=len(users))  # each turn claimed its chat before the model
            assert None not in (await stored_claims(database_url, chat_ids)).values()
            service.stop(signal.SIGKILL)
            killed_at = utc_now()
            assert await asyncio.gather(*in_flight) == [0] * len(users)

    # The dead process's claims hold for its claim TTL from the moment each was taken.
    ttl = timedelta(seconds=HOUR_S)
    for expires_at in (await stored_claims(database_url, chat_ids)).values():
        assert expires_at is not None and sent_at + ttl <= expires_at <= killed_at + ttl

    clock = AdjustableClock()
    async with api_factory(database_url)(clock=clock) as restarted:
        for user, chat_id in zip(users, chat_ids, strict=True):
            chat = await restarted.client.get(f"/v1/users/{user}/chats/{chat_id}", headers=AUTH)
            assert_well_formed(chat.json())
            assert len(chat.json()["messages"]) == 3  # the interrupted turn left nothing
        # Until they expire: the chats stay busy.
        for user, chat_id in zip(users, chat_ids, strict=True):
            assert await turn(restarted.client, user, chat_id, "too soon", AUTH) == 409
        # Then they lapse by themselves.
        clock.advance(HOUR_S)
        for user, chat_id in zip(users, chat_ids, strict=True):
            assert (
                await turn(restarted.client, user, chat_id, "after the claims lapsed", AUTH) == 200
            )


async def test_two_replicas_racing_on_the_same_chats_lose_nothing(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    users = [f"race-{request.node.callspec.id}-{i}" for i in range(4)]
    rounds, attempts = 5, 6
    statuses: Counter[int] = Counter()
    async with running_openai_server() as model:
        replicas = [await serve(database_url, tmp_path, model) for _ in range(2)]
        clients = [
            httpx.AsyncClient(base_url=r.http_url, headers=HEADERS, timeout=30) for r in replicas
        ]
        try:
            chats = [
                (await clients[0].post(f"/v1/users/{u}/chats", json={})).json()["id"] for u in users
            ]
            for round_number in range(rounds):
                # Each chat's first claim, through either replica, holds the chat while its
                # model is held; every other attempt on it races that claim and is refused.
                hold = model.hold(after_chunks=0)
                calls = [
                    asyncio.create_task(
                        turn(clients[(i + attempt) % 2], user, chat_id, f"round {round_number}")
                    )
                    for i, (user, chat_id) in enumerate(zip(users, chats, strict=True))
                    for attempt in range(attempts)
                ]
                await hold.reached(streams=len(users))
                await eventually(
                    lambda calls=calls: sum(c.done() for c in calls) == len(calls) - len(users),
                    "every attempt but the held ones was answered",
                )
                hold.release()
                statuses.update(await asyncio.gather(*calls))
            for user, chat_id in zip(users, chats, strict=True):
                for client in clients:  # either replica sees the same, whole history
                    chat = (await client.get(f"/v1/users/{user}/chats/{chat_id}")).json()
                    assert_well_formed(chat)
                    assert (len(chat["messages"]) - 1) // 2 == rounds
        finally:
            for client in clients:
                await client.aclose()
            stopped = [await asyncio.to_thread(replica.stop) for replica in replicas]
    assert stopped == [0, 0]
    turns = rounds * len(users)
    assert statuses == {200: turns, 409: turns * (attempts - 1)}, statuses
