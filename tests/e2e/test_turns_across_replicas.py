"""Background turns across two replicas: two `chatservice serve` processes on one MariaDB
database and one Redis (a key prefix of the test's own). A turn started on one replica is
followed, resumed after a dropped connection and cancelled from the other.

The replicas' model is the local OpenAI-compatible server of this test process, held mid-reply
(`OpenAICompatibleServer.hold`): "the connection drops after event 3 while the model is still
writing" is a fact of the test, not a race against chunk delays.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.http import SseEvent, read_sse
from support.openai_server import OpenAICompatibleServer, running_openai_server
from support.process import ServiceProcess, start_service
from support.redis import own_key_prefix
from support.waiting import GENEROUS_SECONDS, eventually

pytestmark = pytest.mark.mariadb

TOKEN = "replicas-token"
HEADERS = {"Authorization": TOKEN}
SSE = {"Accept": "text/event-stream"}
USER = "replica-user"


@dataclass
class Replicas:
    one: httpx.AsyncClient
    other: httpx.AsyncClient
    model: OpenAICompatibleServer
    processes: list[ServiceProcess]


async def serve(cwd: Path, **settings: str) -> ServiceProcess:
    env = {f"CHATSERVICE_{name.upper()}": value for name, value in settings.items()}
    # In a thread: the model's server runs on this test's event loop.
    service = await asyncio.to_thread(start_service, env, cwd)
    service.follow_output()
    return service


@pytest.fixture
async def replicas(
    mariadb_database_url: str, redis_url: str, tmp_path: Path
) -> AsyncIterator[Replicas]:
    async with running_openai_server() as model, own_key_prefix() as prefix:
        settings = {
            "database_url": mariadb_database_url,
            "redis_url": redis_url,
            "redis_key_prefix": prefix,
            "auth_tokens": TOKEN,
            "gateway": "openai",
            "openai_base_url": model.base_url,
            "shutdown_grace_seconds": "1",
        }
        processes = [await serve(tmp_path, **settings) for _ in range(2)]
        try:
            one, other = (
                httpx.AsyncClient(base_url=p.http_url, headers=HEADERS, timeout=30)
                for p in processes
            )
            async with one, other:
                yield Replicas(one, other, model, processes)
        finally:
            model.stop()  # lets any held stream end, so no replica waits for it
            for process in processes:
                await asyncio.to_thread(process.stop)


async def new_chat(http: httpx.AsyncClient) -> str:
    response = await http.post(f"/v1/users/{USER}/chats", json={})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def start_in_background(http: httpx.AsyncClient, chat_id: str, content: str) -> Any:
    response = await http.post(
        f"/v1/users/{USER}/chats/{chat_id}/messages",
        json={"content": content, "background": True},
    )
    assert response.status_code == 202, response.text
    return response.json()


def text_of(events: list[SseEvent]) -> str:
    return "".join(e.data["text"] for e in events if e.event == "delta")


def ids_of(events: list[SseEvent]) -> list[int]:
    return [int(e.id or "0") for e in events]


async def stored_messages(http: httpx.AsyncClient, chat_id: str) -> list[dict[str, Any]]:
    chat = (await http.get(f"/v1/users/{USER}/chats/{chat_id}")).json()
    messages: list[dict[str, Any]] = chat["messages"]
    return messages


async def test_a_turn_started_on_one_replica_is_resumed_on_the_other_without_gap_or_repeat(
    replicas: Replicas,
) -> None:
    chat_id = await new_chat(replicas.one)
    hold = replicas.model.hold(after_chunks=4)
    started = await start_in_background(replicas.one, chat_id, "tell me a story in many words")
    await hold.reached()
    url = started["events_url"]

    # On the other replica: events 1 to 3, then the connection drops.
    had: list[SseEvent] = []
    async with replicas.other.stream("GET", url, headers=SSE) as response:
        assert response.status_code == 200
        async for event in read_sse(response):
            if isinstance(event, SseEvent):
                had.append(event)
                if len(had) == 3:
                    break
    assert ids_of(had) == [1, 2, 3]

    # Reconnected from event 3: event 4, written while nobody read, comes at once; the rest
    # live once the model goes on.
    rest: list[SseEvent] = []
    async with replicas.other.stream("GET", url, headers=SSE | {"Last-Event-ID": "3"}) as response:
        events = read_sse(response)
        async with asyncio.timeout(GENEROUS_SECONDS):
            while not rest:
                if isinstance(event := await anext(events), SseEvent):
                    rest.append(event)
            assert ids_of(rest) == [4]
            hold.release()
            rest.extend([e async for e in events if isinstance(e, SseEvent)])

    done = rest[-1]
    assert done.event == "done"
    numbered = ids_of(had + rest)
    assert numbered == list(range(1, len(numbered) + 1))  # no gap, no repeat
    stored = await stored_messages(replicas.other, chat_id)
    assert text_of(had) + text_of(rest) == stored[-1]["content"] == done.data["message"]["content"]
    assert [m["role"] for m in stored] == ["system", "user", "assistant"]
    status = await replicas.one.get(url.removesuffix("/events"))
    assert status.json() == {"status": "completed", "message": stored[-1]}


async def test_a_turn_running_on_one_replica_is_cancelled_from_the_other_storing_nothing(
    replicas: Replicas,
) -> None:
    chat_id = await new_chat(replicas.one)
    hold = replicas.model.hold(after_chunks=2)
    started = await start_in_background(replicas.one, chat_id, "a reply nobody wants")
    await hold.reached()
    turn = started["events_url"].removesuffix("/events")

    async with replicas.other.stream("GET", started["events_url"], headers=SSE) as following:
        events = read_sse(following)
        first = await anext(events)
        assert isinstance(first, SseEvent) and first.id == "1"
        cancelled = await replicas.other.post(f"{turn}/cancel")
        assert cancelled.status_code == 202
        async with asyncio.timeout(GENEROUS_SECONDS):
            rest = [e async for e in events if isinstance(e, SseEvent)]

    end = rest[-1]
    assert (end.event, end.id, end.data["code"]) == ("error", "3", "cancelled")
    # The replica that ran the turn stopped its model call and stored nothing.
    await eventually(lambda: replicas.model.abandoned == 1, "the model call was cancelled")
    status = (await replicas.other.get(turn)).json()
    assert status["status"] == "cancelled" and status["error"]["code"] == "cancelled"
    assert [m["role"] for m in await stored_messages(replicas.other, chat_id)] == ["system"]
    assert (await replicas.one.post(f"{turn}/cancel")).status_code == 409
    hold.release()
    # The chat is free at once, on either replica.
    after = await replicas.other.post(
        f"/v1/users/{USER}/chats/{chat_id}/messages", json={"content": "something else"}
    )
    assert after.status_code == 200, after.text


async def test_a_replica_shut_down_mid_turn_cancels_it_cleanly_and_the_other_says_so(
    replicas: Replicas,
) -> None:
    chat_id = await new_chat(replicas.one)
    hold = replicas.model.hold(after_chunks=2)
    started = await start_in_background(replicas.one, chat_id, "cut short by a deploy")
    await hold.reached()
    turn = started["events_url"].removesuffix("/events")
    stopping = replicas.processes[0]
    await stopping.begin_shutdown()
    # The held turn outlasts the grace period: it is cancelled, its claim released.
    assert await asyncio.to_thread(stopping.process.wait, GENEROUS_SECONDS) == 0
    status = (await replicas.other.get(turn)).json()
    assert status["status"] == "cancelled"
    assert "shut down" in status["error"]["message"]
    async with replicas.other.stream("GET", started["events_url"], headers=SSE) as response:
        events = [e async for e in read_sse(response) if isinstance(e, SseEvent)]
    assert events[-1].event == "error" and events[-1].data["code"] == "cancelled"
    assert [m["role"] for m in await stored_messages(replicas.other, chat_id)] == ["system"]
    hold.release()
    after = await replicas.other.post(
        f"/v1/users/{USER}/chats/{chat_id}/messages", json={"content": "on the other replica"}
    )
    assert after.status_code == 200, after.text
