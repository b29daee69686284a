"""SIGTERM with streams in flight: they finish within the grace period, or are cut cleanly.

The service's model is the local OpenAI-compatible server of this test process, whose streams
the test holds mid-reply and lets go of: "the stream is mid-reply when SIGTERM arrives" and "the
grace period ends while the model is still held" are facts, not races against chunk delays.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from grpclib.client import Channel
from grpclib.events import SendRequest, listen

from chatservice.adapters.fake_gateway import StreamHold
from chatservice.entrypoints.grpc.generated import chatservice_v1_grpc
from chatservice.entrypoints.grpc.generated import chatservice_v1_pb2 as pb
from support.openai_server import OpenAICompatibleServer, running_openai_server
from support.process import ServiceProcess, start_service
from support.waiting import GENEROUS_SECONDS, eventually

TOKEN = "shutdown-token"
#: Long enough for any turn let go of after SIGTERM to finish, however busy the machine.
LONG_GRACE = 60
MESSAGE = "tell me whether this stream goes on after the signal arrives"
#: Content chunks the model has sent when it is held: the caller has the first delta.
HELD_AFTER = 1


def stored_rows(database: Path, chat_id: str) -> tuple[list[str], object]:
    with sqlite3.connect(database) as db:
        roles = [
            r[0]
            for r in db.execute(
                "SELECT role FROM messages WHERE chat_id = ? ORDER BY position", (chat_id,)
            )
        ]
        claim = db.execute("SELECT claim_request_id FROM chats WHERE id = ?", (chat_id,)).fetchone()
    return roles, claim[0]


async def serve(tmp_path: Path, grace_seconds: int, **model: str) -> ServiceProcess:
    env = {
        "CHATSERVICE_AUTH_TOKENS": TOKEN,
        "CHATSERVICE_SHUTDOWN_GRACE_SECONDS": str(grace_seconds),
    }
    env |= {f"CHATSERVICE_{name.upper()}": value for name, value in model.items()}
    # In a thread: the model's server runs on this test's event loop.
    service = await asyncio.to_thread(start_service, env, tmp_path)
    service.follow_output()
    return service


@pytest.fixture
async def upstream() -> AsyncIterator[OpenAICompatibleServer]:
    async with running_openai_server() as server:
        yield server


async def serve_on(upstream: OpenAICompatibleServer, tmp_path: Path, grace: int) -> ServiceProcess:
    return await serve(tmp_path, grace, gateway="openai", openai_base_url=upstream.base_url)


async def sigterm_while_held(service: ServiceProcess, hold: StreamHold) -> None:
    """SIGTERM the service while its model is held mid-reply; return once it is draining."""
    await hold.reached()
    await service.begin_shutdown()


async def exit_status(service: ServiceProcess) -> int:
    return await asyncio.to_thread(service.process.wait, GENEROUS_SECONDS)


async def sse_turn(
    service: ServiceProcess, on_first_event: Callable[[], Awaitable[None]]
) -> tuple[str, list[str]]:
    """An SSE turn; `on_first_event` runs once its first event is in. Returns the chat and the
    names of the events received (`connection cut` when the stream broke off)."""
    headers = {"Authorization": TOKEN}
    async with httpx.AsyncClient(base_url=service.http_url, headers=headers, timeout=90) as http:
        chat_id = (await http.post("/v1/users/u1/chats", json={})).json()["id"]
        events: list[str] = []
        async with http.stream(
            "POST",
            f"/v1/users/u1/chats/{chat_id}/messages",
            json={"content": MESSAGE},
            headers={"Accept": "text/event-stream"},
        ) as response:
            try:
                async for line in response.aiter_lines():
                    if line.startswith("event:"):
                        events.append(line.split(":", 1)[1].strip())
                        if len(events) == 1:
                            await on_first_event()
            except httpx.RemoteProtocolError:
                events.append("connection cut")
    return chat_id, events


async def test_sigterm_during_an_http_stream_lets_the_turn_finish_and_land(
    upstream: OpenAICompatibleServer, tmp_path: Path
) -> None:
    hold = upstream.hold(after_chunks=HELD_AFTER)
    service = await serve_on(upstream, tmp_path, LONG_GRACE)

    async def sigterm_then_let_go() -> None:
        await sigterm_while_held(service, hold)
        hold.release()

    chat_id, events = await sse_turn(service, sigterm_then_let_go)

    assert await exit_status(service) == 0
    # Every word of the reply came, most of them after SIGTERM.
    assert events[-1] == "done" and events.count("delta") == len(f"Echo: {MESSAGE}".split())
    assert stored_rows(tmp_path / "chatservice.db", chat_id) == (
        ["system", "user", "assistant"],
        None,
    )


async def test_a_stream_past_the_grace_period_is_cut_and_stores_nothing(
    upstream: OpenAICompatibleServer, tmp_path: Path
) -> None:
    hold = upstream.hold(after_chunks=HELD_AFTER)  # never let go of
    service = await serve_on(upstream, tmp_path, grace=1)

    chat_id, events = await sse_turn(service, lambda: sigterm_while_held(service, hold))

    assert await exit_status(service) == 0
    assert events == ["delta"] * HELD_AFTER + ["connection cut"]
    assert stored_rows(tmp_path / "chatservice.db", chat_id) == (["system"], None)
    await eventually(lambda: upstream.abandoned == 1, "the model's stream was closed")


async def test_sigterm_during_a_grpc_stream_lets_the_turn_finish_and_land(
    upstream: OpenAICompatibleServer, tmp_path: Path
) -> None:
    hold = upstream.hold(after_chunks=HELD_AFTER)
    service = await serve_on(upstream, tmp_path, LONG_GRACE)
    channel = Channel("127.0.0.1", service.grpc_port)

    async def authorize(event: SendRequest) -> None:
        event.metadata["authorization"] = TOKEN

    listen(channel, SendRequest, authorize)
    stub = chatservice_v1_grpc.ChatServiceStub(channel)
    try:
        chat = await stub.CreateChat(pb.CreateChatRequest(user_id="u1"))
        kinds: list[str] = []
        async with stub.SendMessage.open() as stream:
            await stream.send_message(
                pb.SendMessageRequest(user_id="u1", chat_id=chat.id, content=MESSAGE), end=True
            )
            async for event in stream:
                kinds.append(event.WhichOneof("event"))
                if len(kinds) == 1:
                    await sigterm_while_held(service, hold)
                    hold.release()
    finally:
        channel.close()
    assert await exit_status(service) == 0
    assert kinds[-1] == "completed"
    assert kinds.count("delta") == len(f"Echo: {MESSAGE}".split())
    assert stored_rows(tmp_path / "chatservice.db", chat.id) == (
        ["system", "user", "assistant"],
        None,
    )


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_an_idle_service_stops_at_once_on_either_signal(tmp_path: Path, sig: int) -> None:
    # "At once": well within a generous wait, and nowhere near the grace period.
    service = await serve(tmp_path, grace_seconds=3600)
    assert any("gRPC on" in line for line in service.printed)
    assert await asyncio.to_thread(service.stop, sig, GENEROUS_SECONDS) == 0
