"""Background turns: what 500 of them cost in memory, with the in-process event log and with
Redis Streams (`redis_url`).

One `chatservice serve` per log, on SQLite and the fake model (20 chunks a reply, `DELAY_MS`
apart, so every turn is still running when the last one starts). All turns are started at once
(`"background": true`, 202 each), then polled through the status route until every one has
completed. Measured: the server's resident set (before, at its peak while the turns run, once
they all ended) and, with Redis, its `used_memory` and what the keys of the turns hold once
ended (the summaries kept for `turn_retention_seconds`).

Usage: `.venv/bin/python bench/run.py --only background` (rewrites its section of
docs/benchmarks.md), or `make bench-background`.
"""

from __future__ import annotations

import asyncio
import secrets
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import coredis
import httpx
from services import TOKEN, Running, chatservice

from chatservice.adapters.sqlalchemy.migrations import AlembicMigrations

#: The background turns of the run, as the target names them.
TURNS = 500
#: The fake model's pause between chunks: 20 chunks make a turn last 10 s.
DELAY_MS = 500
CONTENT = "one two three four five six seven eight nine ten"
#: The client's concurrent connections (starting and polling the turns).
CONNECTIONS = 32
MB = 2**20


@dataclass(frozen=True)
class BackgroundRun:
    log: str
    turns: int
    completed: int
    accepted_p50_ms: float
    accepted_p99_ms: float
    rss_before: int
    rss_peak: int
    rss_after: int
    redis_before: int | None = None
    redis_peak: int | None = None
    redis_after: int | None = None
    #: What the turns' keys hold in Redis once they ended: their summaries (kept for the
    #: retention time), and their streams (for a minute).
    redis_summaries: int | None = None
    redis_streams: int | None = None


async def _sampled(
    service: Running, redis: coredis.Redis[bytes] | None, peaks: dict[str, int], stop: asyncio.Event
) -> None:
    while not stop.is_set():
        peaks["rss"] = max(peaks.get("rss", 0), service.rss_bytes())
        if redis is not None:
            peaks["redis"] = max(peaks.get("redis", 0), await _used_memory(redis))
        await asyncio.sleep(0.05)


async def _used_memory(redis: coredis.Redis[bytes]) -> int:
    info = await redis.info("memory")
    return int(info["used_memory"])


async def _kept(redis: coredis.Redis[bytes], prefix: str, kind: str) -> int:
    """What the turns' keys of one `kind` (`status`, `events`) hold in Redis."""
    total = 0
    async for key in redis.scan_iter(match=f"{prefix}:turn:*:{kind}"):
        total += await redis.memory_usage(key) or 0
    return total


async def _one_run(
    log: str, url: str, workdir: Path, redis_url: str | None, progress: Callable[[str], None]
) -> BackgroundRun:
    prefix = f"chatservice-bench-{secrets.token_hex(4)}"
    settings: dict[str, object] = {"fake_chunk_delay_ms": DELAY_MS}
    if redis_url:
        settings |= {"redis_url": redis_url, "redis_key_prefix": prefix}
    redis = coredis.Redis.from_url(redis_url) if redis_url else None
    try:
        with chatservice(url, workdir, **settings) as service:
            base = f"http://127.0.0.1:{service.http_port}"
            limits = httpx.Limits(max_connections=CONNECTIONS)
            async with httpx.AsyncClient(
                base_url=base, headers={"Authorization": TOKEN}, limits=limits, timeout=60
            ) as http:
                users = [f"bg-{i}" for i in range(TURNS)]
                chats = [
                    (await http.post(f"/v1/users/{u}/chats", json={})).json()["id"] for u in users
                ]
                await asyncio.sleep(1)  # let the start-up's allocations settle
                rss_before = service.rss_bytes()
                redis_before = await _used_memory(redis) if redis else None
                peaks: dict[str, int] = {}
                stop = asyncio.Event()
                sampler = asyncio.create_task(_sampled(service, redis, peaks, stop))
                progress(f"background turns: {TURNS} at once, {log} event log")

                async def start(user: str, chat_id: str) -> tuple[float, str]:
                    began = time.perf_counter()
                    response = await http.post(
                        f"/v1/users/{user}/chats/{chat_id}/messages",
                        json={"content": CONTENT, "background": True},
                    )
                    assert response.status_code == 202, response.text
                    return time.perf_counter() - began, response.json()["request_id"]

                pairs = zip(users, chats, strict=True)
                started = await asyncio.gather(*(start(u, c) for u, c in pairs))
                running = {i: request_id for i, (_, request_id) in enumerate(started)}
                completed = 0
                while running:
                    await asyncio.sleep(0.5)
                    for i, request_id in list(running.items()):
                        status = await http.get(
                            f"/v1/users/{users[i]}/chats/{chats[i]}/turns/{request_id}"
                        )
                        state = status.json()["status"]
                        if state != "running":
                            completed += state == "completed"
                            del running[i]
                stop.set()
                await sampler
                rss_after = service.rss_bytes()
                redis_after = await _used_memory(redis) if redis else None
                summaries = await _kept(redis, prefix, "status") if redis else None
                streams = await _kept(redis, prefix, "events") if redis else None
        latencies = sorted(seconds * 1000 for seconds, _ in started)
        return BackgroundRun(
            log,
            TURNS,
            completed,
            statistics.median(latencies),
            latencies[int(0.99 * (len(latencies) - 1))],
            rss_before,
            peaks["rss"],
            rss_after,
            redis_before,
            peaks.get("redis"),
            redis_after,
            summaries,
            streams,
        )
    finally:
        if redis is not None:
            async for key in redis.scan_iter(match=f"{prefix}*"):
                await redis.delete([key])
            redis.connection_pool.disconnect()


def databases(workdir: Path, count: int) -> list[str]:
    """`count` fresh, migrated SQLite files (before the event loop: migrations run their own)."""
    urls = [f"sqlite+aiosqlite:///{workdir}/background-{i}.db" for i in range(count)]
    for url in urls:
        AlembicMigrations(url).upgrade_to_head()
    return urls


async def background_turns(
    urls: list[str], workdir: Path, redis_url: str, progress: Callable[[str], None]
) -> list[BackgroundRun]:
    """The run with each event log, each service on its own database of `urls`."""
    logs = (("in-process", None), ("Redis Streams", redis_url))
    return [
        await _one_run(log, url, workdir, redis, progress)
        for (log, redis), url in zip(logs, urls, strict=True)
    ]


def background_section(runs: list[BackgroundRun], machine: str) -> list[str]:
    def mb(value: int | None) -> str:
        return "-" if value is None else f"{value / MB:.1f}"

    lines = [
        "## 6. Background turns: memory",
        "",
        f'{TURNS} background turns started at once (`"background": true`, each on its own chat),',
        f"each a 20-chunk reply from the fake model, {DELAY_MS} ms apart, so all of them run",
        "together; then followed through the status route until every one has ended. Memory is",
        "the server's resident set and Redis's `used_memory`. Once a turn has ended Redis",
        "keeps its summary (state, text, delta lengths) for `turn_retention_seconds` and its",
        "stream of events for a minute (`MEMORY USAGE` of the keys, per turn). The 202 is",
        "answered once a turn holds its chat; its latency here includes the wait for one of",
        f"the client's {CONNECTIONS} connections while the turns already started stream.",
        f"Command: `make bench-background` (`bench/run.py --only background`). Machine: {machine}.",
        "",
        "| event log | turns | completed | 202 p50 ms | 202 p99 ms | server before MB | server peak growth MB | per running turn | Redis peak growth MB | Redis after growth MB | summary per turn | stream per turn (a minute) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        redis_peak = (
            None if run.redis_peak is None or run.redis_before is None
            else run.redis_peak - run.redis_before
        )  # fmt: skip
        redis_after = (
            None if run.redis_after is None or run.redis_before is None
            else run.redis_after - run.redis_before
        )  # fmt: skip

        def per_turn(total: int | None, turns: int = run.turns) -> str:
            return "-" if total is None else f"{total / turns:,.0f} bytes"

        lines.append(
            f"| {run.log} | {run.turns} | {run.completed} | {run.accepted_p50_ms:.1f} | "
            f"{run.accepted_p99_ms:.1f} | {mb(run.rss_before)} | "
            f"{mb(run.rss_peak - run.rss_before)} | "
            f"{per_turn(run.rss_peak - run.rss_before)} | "
            f"{mb(redis_peak)} | {mb(redis_after)} | {per_turn(run.redis_summaries)} | "
            f"{per_turn(run.redis_streams)} |"
        )
    return lines
