"""`chatservice serve --workers 2`: one supervisor, two worker processes on the same ports.

Which worker serves a connection is read from the kernel's tables (tests/support/workers.py), so
the tests pin a client to each worker instead of hoping the kernel spreads their requests. The
model is the local OpenAI-compatible server, whose streams the test holds mid-reply: a turn is
in flight, for certain, when a worker is killed or the service is told to stop.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sqlite3
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, ExitStack
from pathlib import Path

import httpx
import pytest
from grpclib.client import Channel
from grpclib.events import SendRequest, listen

from chatservice.entrypoints.grpc.generated import chatservice_v1_grpc
from chatservice.entrypoints.grpc.generated import chatservice_v1_pb2 as pb
from support.metrics import scrape, value
from support.openai_server import OpenAICompatibleServer, running_openai_server
from support.process import CHATSERVICE, ServiceProcess, start_service
from support.waiting import GENEROUS_SECONDS, eventually
from support.workers import child_pids, client_on_each_worker, connections_held, serving_pid

TOKEN = "workers-token"
HEADERS = {"Authorization": TOKEN}


@pytest.fixture
def services() -> Iterator[list[ServiceProcess]]:
    """The services a test starts; any still running at its end are stopped (killed if they
    do not stop), so that each supervisor removes its metrics directory."""
    started: list[ServiceProcess] = []

    def stop(service: ServiceProcess) -> None:
        try:
            service.stop(signal.SIGTERM, timeout=GENEROUS_SECONDS)
        except subprocess.TimeoutExpired:
            service.stop(signal.SIGKILL)

    with ExitStack() as cleanup:
        cleanup.callback(lambda: [stop(service) for service in started])
        yield started


@pytest.fixture
async def model() -> AsyncIterator[OpenAICompatibleServer]:
    async with running_openai_server() as server:
        yield server


def serve(
    services: list[ServiceProcess], cwd: Path, count: int = 2, **settings: str
) -> ServiceProcess:
    """`chatservice serve --workers count` with these settings, its output followed."""
    env = {"CHATSERVICE_AUTH_TOKENS": TOKEN}
    env |= {f"CHATSERVICE_{name.upper()}": value for name, value in settings.items()}
    service = start_service(env, cwd=cwd, args=["--workers", str(count)])
    service.follow_output()
    services.append(service)
    return service


def on_model(model: OpenAICompatibleServer) -> dict[str, str]:
    return {"gateway": "openai", "openai_base_url": model.base_url, "openai_api_key": "sk-test"}


def new_user() -> str:
    # Random, not derived from the test: the Redis limit remembers a user for a minute, longer
    # than it takes to run the same test again.
    return f"u-{uuid.uuid4().hex[:12]}"


def stored(database: Path, chat_id: str) -> tuple[list[str], object]:
    """The chat's message roles in order, and its claim (None: not claimed)."""
    with sqlite3.connect(database) as db:
        roles = db.execute(
            "SELECT role FROM messages WHERE chat_id = ? ORDER BY position", (chat_id,)
        ).fetchall()
        claim = db.execute("SELECT claim_expires_at FROM chats WHERE id = ?", (chat_id,)).fetchone()
    return [role for (role,) in roles], claim[0]


async def new_chat(client: httpx.AsyncClient, user: str) -> str:
    response = await client.post(f"/v1/users/{user}/chats", json={})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def sse_events(response: httpx.Response) -> list[str]:
    return [
        line.split(":", 1)[1].strip()
        async for line in response.aiter_lines()
        if line.startswith("event:")
    ]


def sse_turn(client: httpx.AsyncClient, user: str, chat_id: str) -> httpx.Request:
    """A turn asking for its reply as Server-Sent Events (sent with `client.send(…, stream=True)`,
    which returns once the response has begun)."""
    return client.build_request(
        "POST",
        f"/v1/users/{user}/chats/{chat_id}/messages",
        json={"content": "hello there"},
        headers={"Accept": "text/event-stream"},
    )


async def grpc_turn(channel: Channel, user: str) -> list[str]:
    """A chat and a turn in it over `channel`: the kinds of the turn's events."""

    async def authorize(event: SendRequest) -> None:
        event.metadata["authorization"] = TOKEN

    listen(channel, SendRequest, authorize)
    stub = chatservice_v1_grpc.ChatServiceStub(channel)
    chat = await stub.CreateChat(pb.CreateChatRequest(user_id=user))
    async with stub.SendMessage.open() as stream:
        await stream.send_message(
            pb.SendMessageRequest(user_id=user, chat_id=chat.id, content="hi"), end=True
        )
        return [str(event.WhichOneof("event")) async for event in stream]


def metrics_dir(service: ServiceProcess) -> Path:
    """Where the supervisor has its workers keep their metrics (it says so at start)."""
    said = next(line for line in service.printed if "metrics are gathered in" in line)
    return Path(said.rsplit(" ", 1)[1])


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def exists(path: Path) -> bool:
    return path.exists()


def wait_for_exit(service: ServiceProcess) -> asyncio.Future[int]:
    return asyncio.get_running_loop().run_in_executor(None, service.process.wait, GENEROUS_SECONDS)


async def test_two_workers_answer_http_and_grpc_and_each_serves_connections(
    services: list[ServiceProcess], tmp_path: Path
) -> None:
    service = serve(services, tmp_path, count=2, workers="3")  # the command line wins
    workers = child_pids(service.process.pid)
    assert len(workers) == 2
    for pid in workers:
        assert any(f"(pid {pid}) ready" in line for line in service.printed), service.printed
    assert sum("use this one" in line or "HTTP on" in line for line in service.printed) == 1
    user = new_user()
    async with client_on_each_worker(service.http_url, workers, HEADERS) as clients:
        chat_ids = []
        for pid, client in clients.items():
            chat_id = await new_chat(client, user)
            turn = await client.post(
                f"/v1/users/{user}/chats/{chat_id}/messages", json={"content": "hi"}
            )
            assert turn.status_code == 200, turn.text
            assert serving_pid(turn, workers) == pid
            chat_ids.append(chat_id)
        async with AsyncExitStack() as channels:

            async def one_more_grpc_turn() -> bool:
                """A turn over a new connection; whether every worker now holds one (the
                connections stay open, so each worker served the turns of those it holds)."""
                channel = Channel("127.0.0.1", service.grpc_port)
                channels.callback(channel.close)
                assert (await grpc_turn(channel, user))[-1] == "completed"
                return all(connections_held(pid, service.grpc_port) for pid in workers)

            await eventually(one_more_grpc_turn, "a gRPC turn served by each worker")
        for client in clients.values():
            listed = (await client.get(f"/v1/users/{user}/chats")).json()
            assert set(chat_ids) <= {chat["id"] for chat in listed["items"]}
    assert service.stop() == 0
    # Each worker's own log records (its drain on SIGTERM) name it.
    await eventually(
        lambda: all(any(f"pid={pid} " in line for line in service.printed) for pid in workers),
        "a log record of each worker, naming it",
    )


async def test_a_worker_killed_mid_service_is_replaced_and_the_others_turn_goes_on(
    services: list[ServiceProcess], tmp_path: Path, model: OpenAICompatibleServer
) -> None:
    hold = model.hold(after_chunks=1)
    service = serve(services, tmp_path, **on_model(model))
    supervisor = service.process.pid
    workers = child_pids(supervisor)
    user = new_user()
    async with client_on_each_worker(service.http_url, workers, HEADERS) as clients:
        survivor, victim = sorted(clients)
        client = clients[survivor]
        chat_id = await new_chat(client, user)
        request = sse_turn(client, user, chat_id)
        response = await client.send(request, stream=True)
        try:
            assert serving_pid(response, workers) == survivor
            await hold.reached()  # the survivor's turn is mid-reply

            killed_at = time.monotonic()
            os.kill(victim, signal.SIGKILL)

            def replacement() -> int | None:
                others = child_pids(supervisor) - {survivor, victim}
                return others.pop() if others else None

            await eventually(lambda: replacement() is not None, "a new worker process")
            new_pid = replacement()
            await eventually(
                lambda: any(f"(pid {new_pid}) ready" in line for line in service.printed),
                "the new worker ready",
            )
            print(f"\nworker replaced {time.monotonic() - killed_at:.2f} s after SIGKILL")
            hold.release()
            events = await sse_events(response)
        finally:
            await response.aclose()
        assert events[0] == "delta" and events[-1] == "done", events
        chat = (await client.get(f"/v1/users/{user}/chats/{chat_id}")).json()
        assert [m["role"] for m in chat["messages"]] == ["system", "user", "assistant"]
    assert new_pid is not None
    async with client_on_each_worker(service.http_url, {survivor, new_pid}, HEADERS) as clients:
        answered = await clients[new_pid].post(
            f"/v1/users/{user}/chats/{chat_id}/messages", json={"content": "and you?"}
        )
        assert answered.status_code == 200, answered.text
    assert any(f"(pid {victim}) died (signal SIGKILL)" in line for line in service.printed)
    assert service.stop() == 0


async def test_sigterm_lets_the_turns_on_every_worker_finish_then_exits_0(
    services: list[ServiceProcess], tmp_path: Path, model: OpenAICompatibleServer
) -> None:
    service = serve(services, tmp_path, **on_model(model))
    workers = child_pids(service.process.pid)
    hold = model.hold(after_chunks=1)
    user = new_user()
    async with client_on_each_worker(service.http_url, workers, HEADERS) as clients:
        chat_ids, responses = [], []
        for pid, client in clients.items():
            chat_id = await new_chat(client, user)
            response = await client.send(sse_turn(client, user, chat_id), stream=True)
            assert serving_pid(response, workers) == pid
            chat_ids.append(chat_id)
            responses.append(response)
        await hold.reached(streams=2)
        service.process.send_signal(signal.SIGTERM)
        exit_code = wait_for_exit(service)
        await eventually(
            lambda: sum("shutting down" in line for line in service.printed) == 2,
            "both workers draining",
        )
        hold.release()
        events = [await sse_events(response) for response in responses]
        assert await exit_code == 0
    assert all(e[-1] == "done" for e in events), events
    for chat_id in chat_ids:
        assert stored(tmp_path / "chatservice.db", chat_id) == (
            ["system", "user", "assistant"],
            None,
        )
    assert not any(alive(pid) for pid in workers)  # the supervisor exited after its workers


async def test_turns_past_the_grace_period_are_cut_on_every_worker_leaving_nothing_half_written(
    services: list[ServiceProcess], tmp_path: Path, model: OpenAICompatibleServer
) -> None:
    service = serve(services, tmp_path, shutdown_grace_seconds="1", **on_model(model))
    workers = child_pids(service.process.pid)
    hold = model.hold(after_chunks=1)  # never released: the turns outlast the grace period
    user = new_user()
    async with client_on_each_worker(service.http_url, workers, HEADERS) as clients:
        chat_ids, responses = [], []
        for client in clients.values():
            chat_id = await new_chat(client, user)
            responses.append(await client.send(sse_turn(client, user, chat_id), stream=True))
            chat_ids.append(chat_id)
        await hold.reached(streams=2)
        service.process.send_signal(signal.SIGTERM)
        assert await wait_for_exit(service) == 0
        for response in responses:
            with pytest.raises(httpx.RemoteProtocolError):
                await sse_events(response)
    for chat_id in chat_ids:
        assert stored(tmp_path / "chatservice.db", chat_id) == (["system"], None)


async def test_workers_do_not_outlive_a_supervisor_killed_with_sigkill(
    services: list[ServiceProcess], tmp_path: Path
) -> None:
    service = serve(services, tmp_path)
    workers = child_pids(service.process.pid)
    shutil.rmtree(metrics_dir(service))  # left behind by a supervisor that is killed
    service.process.kill()
    service.process.wait(GENEROUS_SECONDS)

    await eventually(lambda: not any(alive(pid) for pid in workers), "the workers exited")
    async with httpx.AsyncClient(base_url=service.http_url) as client:
        with pytest.raises(httpx.ConnectError):  # no process holds the port any more
            await client.get("/healthz")


async def test_metrics_from_either_worker_count_the_turns_of_every_worker_dead_or_alive(
    services: list[ServiceProcess], tmp_path: Path
) -> None:
    service = serve(services, tmp_path)
    workers = child_pids(service.process.pid)
    gathered_in = metrics_dir(service)
    user = new_user()
    messages = "/v1/users/{user_id}/chats/{chat_id}/messages"
    async with client_on_each_worker(service.http_url, workers, HEADERS) as clients:
        first, second = sorted(clients)
        chat_id = await new_chat(clients[first], user)
        for pid, turns in ((first, 2), (second, 3)):
            for _ in range(turns):
                turn = await clients[pid].post(
                    f"/v1/users/{user}/chats/{chat_id}/messages", json={"content": "hi"}
                )
                assert turn.status_code == 200 and serving_pid(turn, workers) == pid
        for client in clients.values():
            samples = await scrape(client)
            assert value(samples, "chatservice_turns_total", outcome="completed") == 5
            assert value(samples, "chatservice_requests_total", path=messages) == 5
            assert value(samples, "chatservice_active_turns") == 0

        os.kill(second, signal.SIGKILL)
        await eventually(lambda: len(child_pids(service.process.pid) - {second}) == 2, "a new one")
        samples = await scrape(clients[first])
        assert value(samples, "chatservice_turns_total", outcome="completed") == 5
    assert service.stop() == 0
    assert not exists(gathered_in)  # the supervisor removed its metrics directory


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_the_generated_token_is_printed_once_works_on_every_worker_and_either_signal_stops(
    services: list[ServiceProcess], tmp_path: Path, sig: int
) -> None:
    service = start_service({}, cwd=tmp_path, args=["--workers", "2"])  # no token configured
    services.append(service)
    service.follow_output()
    token = service.token()
    assert token and sum("use this one" in line for line in service.printed) == 1
    workers = child_pids(service.process.pid)
    async with client_on_each_worker(service.http_url, workers, {"Authorization": token}) as on:
        for client in on.values():
            assert (await client.get(f"/v1/users/{new_user()}/chats")).status_code == 200
    assert service.stop(sig, timeout=GENEROUS_SECONDS) == 0
    assert not any(alive(pid) for pid in workers)  # the supervisor exited after its workers


def test_a_bad_worker_count_stops_start_up_with_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [CHATSERVICE, "serve", "--workers", "none"],
        cwd=tmp_path,
        env={"PATH": "/usr/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "chatservice: setting workers (env CHATSERVICE_WORKERS) must be a number of processes "
        "(1 or more) or auto, got 'none'"
    )


async def test_the_redis_turn_limit_holds_across_workers_and_replicas(
    services: list[ServiceProcess], tmp_path: Path, redis_url: str
) -> None:
    limited = {"turns_per_minute_per_user": "4", "redis_url": redis_url}
    replica_a = serve(services, tmp_path, count=2, **limited)
    replica_b = serve(services, tmp_path, count=1, **limited)
    workers = child_pids(replica_a.process.pid)
    user = new_user()
    async with (
        client_on_each_worker(replica_a.http_url, workers, HEADERS) as on_a,
        httpx.AsyncClient(base_url=replica_b.http_url, headers=HEADERS, timeout=30) as on_b,
    ):
        a0, a1 = (on_a[pid] for pid in sorted(on_a))
        chat_id = await new_chat(a0, user)

        async def status(client: httpx.AsyncClient) -> int:
            response = await client.post(
                f"/v1/users/{user}/chats/{chat_id}/messages", json={"content": "hi"}
            )
            served_by = serving_pid(response, workers)
            assert served_by is None if client is on_b else on_a[served_by] is client
            return response.status_code

        statuses = [await status(client) for client in (a0, a1, on_b, a0, a1, on_b)]
    assert statuses == [200, 200, 200, 200, 429, 429]
