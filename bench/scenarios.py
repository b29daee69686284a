"""The five measurements of issue 8, each returning plain figures for the report."""

from __future__ import annotations

import asyncio
import pstats
import signal
import tempfile
import time
import timeit
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from clients import Latencies, RawHttp, grpc_stub, grpc_turn, run_load
from direct_sql import direct_sql_load
from seed import MESSAGE, add_chats
from services import TOKEN, baseline, chatservice

from chatservice.adapters.sqlalchemy.engine import create_engine
from chatservice.adapters.sqlalchemy.migrations import AlembicMigrations
from chatservice.adapters.sqlalchemy.repository import SqlAlchemyChatRepository
from chatservice.adapters.tiktoken_counter import TiktokenTokenCounter
from chatservice.application.ports import TurnClaim
from chatservice.domain.chat import Message, Role, Usage
from chatservice.domain.turn import TurnRecord
from chatservice.entrypoints.settings import Settings

WINDOW_OF_FIVE_EXCHANGES = {"context_window": 520, "max_completion_tokens": 100}
Progress = Callable[[str], None]


def chats_path(user: str) -> str:
    return f"/v1/users/{user}/chats"


async def new_chat(http: RawHttp, user: str) -> str:
    import json

    status, body = await http.post(chats_path(user), {})
    assert status == 201, body
    return str(json.loads(body)["id"])


async def http_load(port: int, connections: int, per_connection: int, chats: bool,
                    warmed_up: Callable[[], None] = lambda: None) -> Latencies:  # fmt: skip
    """`connections` clients, each on its own chat (`chats`) or on the bare handler; `warmed_up`
    is called between the warm-up and the measured turns."""
    clients = [RawHttp("127.0.0.1", port, TOKEN) for _ in range(connections)]
    ids = [await new_chat(c, f"bench-{i}") if chats else "bare" for i, c in enumerate(clients)]

    async def one(connection: int, i: int) -> bool:
        path = f"{chats_path(f'bench-{connection}')}/{ids[connection]}/messages"
        status, _ = await clients[connection].post(path, {"content": f"{MESSAGE} {i}"})
        return status == 200

    await run_load(connections, 20, one)  # warm-up
    warmed_up()
    result = await run_load(connections, per_connection, one)
    for client in clients:
        client.close()
    return result


async def grpc_load(port: int, connections: int, per_connection: int) -> Latencies:
    from chatservice.entrypoints.grpc.generated import chatservice_v1_pb2 as pb

    channels = [grpc_stub(port, TOKEN) for _ in range(connections)]
    ids = [
        (await stub.CreateChat(pb.CreateChatRequest(user_id=f"grpc-{i}"))).id
        for i, (_, stub) in enumerate(channels)
    ]

    async def one(connection: int, i: int) -> bool:
        return await grpc_turn(channels[connection][1], f"grpc-{connection}", ids[connection],
                               f"{MESSAGE} {i}")  # fmt: skip

    await run_load(connections, 20, one)
    result = await run_load(connections, per_connection, one)
    for channel, _ in channels:
        channel.close()
    return result


async def repository_load(url: str, connections: int, per_connection: int) -> Latencies:
    """The turn's SQL through the repository alone: claim, then commit two messages."""
    engine = create_engine(url)
    repository = SqlAlchemyChatRepository(engine, Settings().window_cache_bytes)
    counter_tokens = 12
    chats = await add_chats(repository, connections, "repo")

    async def one(connection: int, i: int) -> bool:
        chat = chats[connection]
        now = datetime.now(UTC)
        key = str(uuid.uuid4())
        claimed = await repository.claim_turn(
            chat.user_id, chat.id, TurnClaim(key, now, now + timedelta(seconds=120))
        )
        position = claimed.next_position
        user = Message(
            str(uuid.uuid4()),
            Role.USER,
            f"{MESSAGE} {i}",
            counter_tokens,
            position,
            now,
            idempotency_key=key,
        )
        reply = Message(
            str(uuid.uuid4()),
            Role.ASSISTANT,
            "word " * 16,
            20,
            position + 1,
            now,
            finish_reason="stop",
            prompt_tokens=40,
            completion_tokens=16,
        )
        erase = position - 8 if position > 10 else None
        await repository.commit_turn(TurnRecord(chat.id, key, claimed.version, user, reply,
                                                erase, Usage(40, 16), None, now))  # fmt: skip
        return True

    await run_load(connections, 20, one)
    result = await run_load(connections, per_connection, one)
    await engine.dispose()
    return result


@dataclass
class Row:
    what: str
    database: str
    connections: int
    result: Latencies


#: The overhead runs are repeated, interleaved, and their samples pooled: this machine's speed
#: drifts by tens of percent over minutes, and interleaving spreads the drift over every variant.
OVERHEAD_ROUNDS = 3


async def overhead(databases: dict[str, str], workdir: Path, progress: Progress) -> list[Row]:
    pooled: dict[tuple[str, str, int], Latencies] = {}

    def add(what: str, database: str, connections: int, result: Latencies) -> None:
        pooled.setdefault((what, database, connections), Latencies()).add(result)

    plan = [(1, 400), (32, 25)]  # turns per connection, per round
    # About five exchanges in the window, as the repository-only run keeps: the same rows read.
    settings = WINDOW_OF_FIVE_EXCHANGES
    for round_number in range(1, OVERHEAD_ROUNDS + 1):
        for connections, each in plan:
            progress(f"overhead, round {round_number}: bare handlers, {connections} connection(s)")
            with baseline("http") as bare:
                add("bare Litestar handler", "-", connections,
                    await http_load(bare.http_port, connections, each, chats=False))  # fmt: skip
            with baseline("grpc") as bare:
                add("bare grpclib handler", "-", connections,
                    await grpc_load(bare.grpc_port, connections, each))  # fmt: skip
            for name, url in databases.items():
                progress(f"overhead, round {round_number}: {name}, {connections} connection(s)")
                add("repository only (the turn's SQL)", name, connections,
                    await repository_load(url, connections, each))  # fmt: skip
                if name == "MariaDB":
                    add("the turn's SQL by hand on the bare driver", name, connections,
                        await direct_sql_load(url, connections, each))  # fmt: skip
                with chatservice(url, workdir, **settings) as service:
                    add("chatservice HTTP turn", name, connections,
                        await http_load(service.http_port, connections, each, True))  # fmt: skip
                    add("chatservice gRPC turn", name, connections,
                        await grpc_load(service.grpc_port, connections, each))  # fmt: skip
    return [Row(what, database, connections, result)
            for (what, database, connections), result in pooled.items()]  # fmt: skip


async def history(databases: dict[str, str], workdir: Path, progress: Progress) -> list[Row]:
    """Turn latency on a chat holding 10,000 stored messages against one holding 10."""
    rows: list[Row] = []
    # Both chats send the model the same amount: about five exchanges.
    settings = WINDOW_OF_FIVE_EXCHANGES
    for name, url in databases.items():
        with chatservice(url, workdir, **settings) as service:
            http = RawHttp("127.0.0.1", service.http_port, TOKEN)
            short, long = await new_chat(http, "short"), await new_chat(http, "long")
            for _ in range(4):
                await http.post(f"{chats_path('short')}/{short}/messages", {"content": MESSAGE})
            progress(f"history: seeding 10,000 messages on {name} with real turns")
            for i in range(5_000 - 1):
                await http.post(
                    f"{chats_path('long')}/{long}/messages", {"content": f"{MESSAGE} {i}"}
                )
            for label, user, chat_id in (("10 stored messages", "short", short),
                                         ("10,000 stored messages", "long", long)):  # fmt: skip

                async def one(
                    _: int, i: int, user: str = user, chat_id: str = chat_id, http: RawHttp = http
                ) -> bool:
                    status, _body = await http.post(
                        f"{chats_path(user)}/{chat_id}/messages", {"content": f"{MESSAGE} {i}"}
                    )
                    return status == 200

                progress(f"history: {label} on {name}")
                rows.append(Row(label, name, 1, await run_load(1, 300, one)))
            http.close()
    return rows


async def profile_http_turn(url: str, workdir: Path, turns: int, progress: Progress
                            ) -> dict[str, Any]:  # fmt: skip
    """The server under cProfile for `turns` HTTP turns at one connection: where its CPU goes,
    by package and by function (own time, callees excluded)."""
    progress(f"profile: {turns} HTTP turns under cProfile")
    path = workdir / "http-turn.prof"
    with chatservice(url, workdir, profile_to=path, **WINDOW_OF_FIVE_EXCHANGES) as service:
        await http_load(service.http_port, 1, 50, True)  # warm-up, not profiled
        service.process.send_signal(signal.SIGUSR1)
        await http_load(service.http_port, 1, turns, True)
    stats = pstats.Stats(str(path)).stats
    by_package: Counter[str] = Counter()
    functions: list[tuple[float, int, str]] = []
    for (filename, line, function), (_, calls, own, _cumulative, _callers) in stats.items():
        by_package[_where(filename)] += own
        where = (function if filename.startswith("~")
                 else f"{_where(filename)}: {function} (line {line})")  # fmt: skip
        functions.append((own, calls, where))
    total = sum(by_package.values())
    return {
        "turns": turns,
        "total_s": total,
        "by_package": [(name, own, own / total) for name, own in by_package.most_common(12)],
        "top": sorted(functions, reverse=True)[:15],
    }


def _where(filename: str) -> str:
    if "site-packages/" in filename:
        return filename.split("site-packages/")[1].split("/")[0]
    if "/chatservice/" in filename:
        return "chatservice/" + filename.split("/chatservice/")[1]
    if filename.startswith("~"):
        return "built-in functions (sockets, greenlet switches, the tokenizer, …)"
    return "standard library: " + filename.rsplit("/", 1)[-1]


def token_counting() -> dict[str, dict[str, float]]:
    """Our counting per turn (the new message and the reply, each with its chat-format
    overhead) against tiktoken encoding the new message alone, for two reply lengths."""
    counter = TiktokenTokenCounter()
    encoding = counter.encoding("o200k_base")
    message = "Could you summarise the main arguments for and against remote work, briefly?"
    replies = {
        "reply as long as the message": "Remote work saves commuting time but can weaken team ties.",
        "the fake model's reply (2.2 x the message)": f'You said: "{message}". I received 2 '
        "messages and 40 prompt tokens.",
    }
    rounds = 20_000
    bare = min(timeit.repeat(lambda: encoding.encode(message), number=rounds, repeat=5)) / rounds
    figures = {}
    for label, reply in replies.items():
        ours = min(timeit.repeat(
            lambda reply=reply: (counter.message_cost("o200k_base", "user", message),
                                 counter.message_cost("o200k_base", "assistant", reply)),
            number=rounds, repeat=5)) / rounds  # fmt: skip
        figures[label] = {"ours_us": ours * 1e6, "bare_us": bare * 1e6, "ratio": ours / bare}
    return figures


async def cumulative_vs_deltas(progress: Progress) -> dict[str, Any]:
    """A 4,000-token reply over the compat stream (cumulative content) and over v1 (deltas)."""
    from dependency_injector import providers
    from services import free_port

    from chatservice.application.ports import CompletionEnd, TextDelta
    from chatservice.entrypoints.container import build_container
    from chatservice.entrypoints.grpc.generated import chat_grpc, chat_pb2, chatservice_v1_pb2
    from chatservice.entrypoints.grpc.server import create_grpc_server

    counter = TiktokenTokenCounter()
    words = ["lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit", "sed", "do", "eiusmod", "tempor", "incididunt", "ut", "labore", "et", "dolore", "magna", "aliqua"]  # fmt: skip
    text, chunks = "", []
    while counter.count("o200k_base", text) < 4000:
        chunk = words[len(chunks) % len(words)] + " "
        chunks.append(chunk)
        text += chunk

    class LongReply:
        async def stream(self, request: object) -> Any:
            for chunk in chunks:
                yield TextDelta(chunk)
            yield CompletionEnd("stop", Usage(50, 4000))

    database = Path(tempfile.mkdtemp()) / "bench.db"
    url = f"sqlite+aiosqlite:///{database}"
    await asyncio.to_thread(AlembicMigrations(url).upgrade_to_head)
    container = build_container(Settings(database_url=url, auth_tokens=(TOKEN,)))
    container.gateway.override(providers.Object(LongReply()))
    server, _ = create_grpc_server(container)
    port = free_port()
    await server.start("127.0.0.1", port)
    channel, stub = grpc_stub(port, TOKEN)
    results: dict[str, Any] = {"chunks": len(chunks), "characters": len(text)}
    try:
        progress("cumulative vs deltas: compat ChatStream")
        compat = chat_grpc.ChatServiceStub(channel)
        started_cpu, started = time.process_time(), time.perf_counter()
        replies = await compat.ChatStream(chat_pb2.ChatRequest(user_id="c", user_message="go"))
        results["compat"] = {
            "bytes": sum(len(r.SerializeToString()) + 5 for r in replies),
            "cpu_s": time.process_time() - started_cpu,
            "wall_s": time.perf_counter() - started,
            "messages": len(replies),
        }
        progress("cumulative vs deltas: v1 SendMessage")
        chat = await stub.CreateChat(chatservice_v1_pb2.CreateChatRequest(user_id="v"))
        started_cpu, started = time.process_time(), time.perf_counter()
        events = await stub.SendMessage(
            chatservice_v1_pb2.SendMessageRequest(user_id="v", chat_id=chat.id, content="go")
        )
        results["v1"] = {
            "bytes": sum(len(e.SerializeToString()) + 5 for e in events),
            "cpu_s": time.process_time() - started_cpu,
            "wall_s": time.perf_counter() - started,
            "messages": len(events),
        }
    finally:
        channel.close()
        server.close()
        await server.wait_closed()
        await container.engine().dispose()
    return results
