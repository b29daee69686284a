"""SIGTERM with streams in flight: they finish within the grace period, or are cut cleanly."""

from __future__ import annotations

import signal
import sqlite3
from pathlib import Path

import httpx
import pytest
from grpclib.client import Channel
from grpclib.events import SendRequest, listen

from chatservice.entrypoints.grpc.generated import chatservice_v1_grpc
from chatservice.entrypoints.grpc.generated import chatservice_v1_pb2 as pb
from support.process import ServiceProcess, start_service
from support.waiting import GENEROUS_SECONDS

TOKEN = "shutdown-token"


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


def serve(tmp_path: Path, chunk_delay_ms: int, grace_seconds: int = 20) -> ServiceProcess:
    return start_service(
        {
            "CHATSERVICE_AUTH_TOKENS": TOKEN,
            "CHATSERVICE_FAKE_CHUNK_DELAY_MS": str(chunk_delay_ms),
            "CHATSERVICE_SHUTDOWN_GRACE_SECONDS": str(grace_seconds),
        },
        cwd=tmp_path,
    )


async def sse_turn_with_sigterm(service: ServiceProcess) -> tuple[str, list[str]]:
    """Start an SSE turn, SIGTERM the service after the first delta; return the event names."""
    headers = {"Authorization": TOKEN}
    async with httpx.AsyncClient(base_url=service.http_url, headers=headers, timeout=30) as http:
        chat_id = (await http.post("/v1/users/u1/chats", json={})).json()["id"]
        events: list[str] = []
        async with http.stream(
            "POST",
            f"/v1/users/u1/chats/{chat_id}/messages",
            json={"content": "hello"},
            headers={"Accept": "text/event-stream"},
        ) as response:
            try:
                async for line in response.aiter_lines():
                    if line.startswith("event:"):
                        events.append(line.split(":", 1)[1].strip())
                        if len(events) == 1:
                            service.process.send_signal(signal.SIGTERM)
            except httpx.RemoteProtocolError:
                events.append("connection cut")
    return chat_id, events


async def test_sigterm_during_an_http_stream_lets_the_turn_finish_and_land(tmp_path: Path) -> None:
    service = serve(tmp_path, chunk_delay_ms=60)
    chat_id, events = await sse_turn_with_sigterm(service)
    assert service.process.wait(30) == 0
    assert events[-1] == "done" and events.count("delta") > 5
    assert stored_rows(tmp_path / "chatservice.db", chat_id) == (
        ["system", "user", "assistant"],
        None,
    )


async def test_a_stream_past_the_grace_period_is_cut_and_stores_nothing(tmp_path: Path) -> None:
    service = serve(tmp_path, chunk_delay_ms=400, grace_seconds=1)
    chat_id, events = await sse_turn_with_sigterm(service)
    assert service.process.wait(30) == 0
    assert events[-1] == "connection cut"
    assert stored_rows(tmp_path / "chatservice.db", chat_id) == (["system"], None)


async def test_sigterm_during_a_grpc_stream_lets_the_turn_finish_and_land(tmp_path: Path) -> None:
    service = serve(tmp_path, chunk_delay_ms=60)
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
                pb.SendMessageRequest(user_id="u1", chat_id=chat.id, content="hi"), end=True
            )
            async for event in stream:
                kinds.append(event.WhichOneof("event"))
                if len(kinds) == 1:
                    service.process.send_signal(signal.SIGTERM)
    finally:
        channel.close()
    assert service.process.wait(30) == 0
    assert kinds[-1] == "completed" and kinds.count("delta") > 5
    assert stored_rows(tmp_path / "chatservice.db", chat.id) == (
        ["system", "user", "assistant"],
        None,
    )


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_an_idle_service_stops_at_once_on_either_signal(tmp_path: Path, sig: int) -> None:
    # "At once": well within a generous wait, and nowhere near the grace period.
    service = serve(tmp_path, chunk_delay_ms=0, grace_seconds=3600)
    assert any("gRPC on" in line for line in service.printed)
    assert service.stop(sig, timeout=GENEROUS_SECONDS) == 0
