"""Hundreds of streaming turns at once: each on its own connection and chat, all started
together, over SSE; the time to each one's first delta and to its end, the server's memory, and
where the CPU went meanwhile."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from clients import RawHttp
from processes import Meter, Use, connections_by_process, mariadb_pids, tree
from scenarios import Progress, chats_path, new_chat
from services import TOKEN, chatservice


@dataclass
class Streaming:
    database: str
    turns: int
    completed: int
    first_byte: list[float]
    total: list[float]
    rss_before: int
    rss_peak: int
    workers: int = 1
    #: The client's failures, by exception (a reset connection would show here).
    failures: Counter[str] = field(default_factory=Counter)
    use: Use | None = None
    #: With workers: the connections each worker held when they held the most, most first.
    connections: list[int] = field(default_factory=list)

    @property
    def first_byte_p99(self) -> float:
        ordered = sorted(self.first_byte)
        return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


async def streaming(
    url: str, name: str, workdir: Path, turns: int, progress: Progress, workers: int = 1
) -> Streaming:
    """`turns` concurrent SSE turns; the fake model streams 20 chunks 50 ms apart."""
    ten_words = "one two three four five six seven eight nine ten"
    with chatservice(url, workdir, fake_chunk_delay_ms=50, workers=workers) as service:
        setup = RawHttp("127.0.0.1", service.http_port, TOKEN)
        ids = [await new_chat(setup, f"stream-{i}") for i in range(turns)]
        setup.close()
        await asyncio.sleep(0.5)
        before, peak = service.rss_bytes(), 0
        sampling, held = True, []

        async def sample() -> None:
            nonlocal peak
            while sampling:
                peak = max(peak, service.rss_bytes())
                await asyncio.sleep(0.05)

        async def share() -> None:
            """How the kernel shared the connections out among the workers (`ss`, in a thread:
            it takes milliseconds)."""
            nonlocal held
            while sampling:
                now = await asyncio.to_thread(connections_by_process, service.http_port)
                counts = sorted((now[p] for p in tree(service.process.pid) if now[p]), reverse=True)
                held = max(held, counts, key=sum)
                await asyncio.sleep(0.25)

        samplers = [asyncio.create_task(sample())]
        if workers > 1:
            samplers.append(asyncio.create_task(share()))
        progress(f"streaming: {turns} concurrent SSE turns on {name}, {workers} worker(s)")
        meter = Meter(service.process.pid, mariadb_pids(3306) if name == "MariaDB" else [])
        meter.start()

        async def one(i: int) -> tuple[float, float]:
            client = RawHttp("127.0.0.1", service.http_port, TOKEN)
            return await client.stream_first_byte(
                f"{chats_path(f'stream-{i}')}/{ids[i]}/messages", {"content": ten_words}
            )

        results = await asyncio.gather(*(one(i) for i in range(turns)), return_exceptions=True)
        use = meter.stop()
        sampling = False
        await asyncio.gather(*samplers)
    timings = [r for r in results if isinstance(r, tuple) and r[0] == r[0]]
    failures = Counter(type(r).__name__ if isinstance(r, BaseException) else "no delta"
                       for r in results if not isinstance(r, tuple) or r[0] != r[0])  # fmt: skip
    return Streaming(name, turns, len(timings), [t[0] * 1000 for t in timings],
                     [t[1] * 1000 for t in timings], before, peak, workers, failures,
                     use, held)  # fmt: skip
