"""`serve --workers N` measured: HTTP turns per second at 32 connections with one and two workers
beside the turn's SQL by hand on the bare driver, and the 500 concurrent streams with one and two
workers. MariaDB (the machine's own, 3306); the fake model.

Every variant runs once a round, interleaved (`rounds.interleaved`), for several rounds, each on a
fresh service; each window also records where the CPU went (`processes.Meter`).
Usage: `.venv/bin/python bench/run.py --only workers` or `--only streams` (`make bench-workers`,
`make bench-streams`), each rewriting its own section of docs/benchmarks.md.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from clients import Latencies
from direct_sql import direct_sql_load
from processes import Meter, Use, mariadb_pids
from rounds import cores, interleaved, loads, per_turn, spread
from scenarios import WINDOW_OF_FIVE_EXCHANGES, http_load
from services import chatservice
from streaming import Streaming, streaming

Progress = Callable[[str], None]
CONNECTIONS = 32
TURNS_PER_CONNECTION = 60
STREAMS = 500
WORKERS = (1, 2)
BY_HAND = "the turn's SQL by hand on the bare driver"


@dataclass(frozen=True)
class Throughput:
    what: str
    round: int
    result: Latencies
    use: Use


def _label(workers: int) -> str:
    return f"chatservice HTTP turn, {workers} worker{'s' if workers > 1 else ''}"


async def throughput(url: str, workdir: Path, rounds: int, progress: Progress) -> list[Throughput]:
    runs = []
    variants: tuple[int, ...] = (0, *WORKERS)  # 0: the SQL by hand, no service
    for round_number, workers in interleaved(variants, rounds):
        progress(f"workers, round {round_number}: {_label(workers) if workers else BY_HAND}")
        if not workers:
            meter = Meter(None, mariadb_pids(3306))
            result = await direct_sql_load(url, CONNECTIONS, TURNS_PER_CONNECTION, meter.start)
            runs.append(Throughput(BY_HAND, round_number, result, meter.stop()))
            continue
        with chatservice(url, workdir, workers=workers, **WINDOW_OF_FIVE_EXCHANGES) as service:
            meter = Meter(service.process.pid, mariadb_pids(3306), service.http_port)
            result = await http_load(service.http_port, CONNECTIONS, TURNS_PER_CONNECTION, True,
                                     meter.start)  # fmt: skip
            runs.append(Throughput(_label(workers), round_number, result, meter.stop()))
    return runs


async def streams(url: str, workdir: Path, rounds: int, progress: Progress) -> list[Streaming]:
    return [
        await streaming(url, "MariaDB", workdir, STREAMS, progress, workers)
        for _, workers in interleaved(WORKERS, rounds)
    ]


def _median_use(runs: list[Throughput]) -> Use:
    """The use of the round with the median rate."""
    ordered = sorted(runs, key=lambda run: run.result.rate)
    return ordered[len(ordered) // 2].use


def throughput_section(runs: list[Throughput], machine: str) -> list[str]:
    rounds = max(run.round for run in runs)
    whats = [BY_HAND, *(_label(w) for w in WORKERS)]
    by_what = {what: [run for run in runs if run.what == what] for what in whats}
    lines = [
        "## 8. Workers: HTTP turns per second at 32 connections",
        "",
        f"{CONNECTIONS} keep-alive connections, each on its own chat, {TURNS_PER_CONNECTION} turns each",
        "after 20 of warm-up, on MariaDB (the window of section 1). The service runs with one, then",
        "two workers (`serve --workers N`); beside it, the turn's SQL by hand on the bare driver",
        f"(section 1) at the same {CONNECTIONS} connections. Each is measured once a round, the order",
        f"rotated each round, {rounds} rounds; figures are the median over the rounds with the lowest and",
        "highest in brackets. CPU is in cores (CPU seconds per second, of the machine's 2) during the",
        "measured turns, for the round with the median rate: the service (with workers, each process,",
        "busiest first), the load generator, MariaDB, and the whole machine (other work included: the",
        "machine is shared). CPU ms a turn: the CPU a process spent over the measured turns divided",
        "by their number, which depends much less than the rates on how much of the shared machine",
        "the run got (MariaDB's includes whatever else uses it meanwhile). Connections held: how",
        "the kernel shared the 32 out among the workers (`ss`, after the warm-up).",
        "This section alone: `make bench-workers` (`bench/run.py --only workers`).",
        "",
        f"Measured: {machine}; load average (1 min) over the rounds {loads([r.use for r in runs])}.",
        "",
        "| what | turns/s | p50 ms | p99 ms | errors | service CPU ms a turn | MariaDB CPU ms a "
        "turn | CPU, median round | connections held |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for what, some in by_what.items():
        held = ["/".join(map(str, r.use.connections)) for r in some if len(r.use.connections) > 1]
        service = [per_turn(r.use.server_cores, r.use.seconds, len(r.result.seconds)) for r in some]
        database = [per_turn(r.use.database_cores, r.use.seconds, len(r.result.seconds))
                    for r in some]  # fmt: skip
        lines.append(
            f"| {what} | {spread([r.result.rate for r in some])} | "
            f"{spread([r.result.p50 for r in some], 1)} | "
            f"{spread([r.result.percentile(99) for r in some], 1)} | "
            f"{sum(r.result.errors for r in some)} | "
            f"{spread(service, 2) if what != BY_HAND else '-'} | {spread(database, 2)} | "
            f"{cores(_median_use(some))} | {', '.join(held) or '-'} |"
        )
    one, two, hand = (by_what[_label(1)], by_what[_label(2)], by_what[BY_HAND])
    lines += ["", "Each round's rates side by side, and their ratios within the round:", "",
              "| round | load | by hand /s | 1 worker /s | 2 workers /s | 2 / 1 workers | "
              "1 worker / by hand | 2 workers / by hand |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    ratios: dict[str, list[float]] = {"2/1": [], "1/hand": [], "2/hand": []}
    for r1, r2, rh in zip(one, two, hand, strict=True):
        a, b, h = r1.result.rate, r2.result.rate, rh.result.rate
        ratios["2/1"].append(b / a)
        ratios["1/hand"].append(a / h)
        ratios["2/hand"].append(b / h)
        lines.append(f"| {r1.round} | {r2.use.load:.1f} | {h:.0f} | {a:.0f} | {b:.0f} | "
                     f"{b / a:.2f} | {a / h:.2f} | {b / h:.2f} |")  # fmt: skip
    lines += [
        f"| median (range) | | | | | {spread(ratios['2/1'], 2)} | {spread(ratios['1/hand'], 2)} | "
        f"{spread(ratios['2/hand'], 2)} |",
    ]
    return lines


def streams_section(runs: list[Streaming], machine: str) -> list[str]:
    lines = [
        "## 9. 500 concurrent streams with workers",
        "",
        "Section 3's run at 500 turns (20 chunks 50 ms apart, each turn on its own connection and",
        "chat, all started at once) on MariaDB, with one and with two workers, interleaved, each run",
        "on a fresh service. Memory is the growth of the service's resident set, all its processes",
        "together. CPU as in section 8, over the burst; connections held: how many of the 500 each",
        "worker held when they held the most. Resets: TCP resets the whole machine sent",
        "during the burst (the kernel's `TcpOutRsts`; other work on the machine adds a few);",
        "overflows: connections the listening sockets' queues dropped (`ListenOverflows`).",
        "This section alone: `make bench-streams` (`bench/run.py --only streams`).",
        "",
        f"Measured: {machine}.",
        "",
        "| workers | completed | failures | TTFB p50 ms | TTFB p99 ms | total p50 ms | memory "
        "growth MB | service CPU ms a turn | CPU | connections held | load | resets | overflows | "
        "targets (all complete, p99 ≤ 100 ms, ≤ 100 MB) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        assert run.use is not None
        growth = (run.rss_peak - run.rss_before) / 2**20
        met = run.completed == run.turns and run.first_byte_p99 <= 100 and growth <= 100
        failures = ", ".join(f"{n} {name}" for name, n in run.failures.items()) or "0"
        lines.append(
            f"| {run.workers} | {run.completed} | {failures} | "
            f"{statistics.median(run.first_byte):.0f} | {run.first_byte_p99:.0f} | "
            f"{statistics.median(run.total):.0f} | {growth:.1f} | "
            f"{per_turn(run.use.server_cores, run.use.seconds, run.turns):.2f} | {cores(run.use)} | "
            f"{'/'.join(map(str, run.connections)) or '-'} | "
            f"{run.use.load:.1f} | {run.use.tcp['TcpOutRsts']} | "
            f"{run.use.tcp['TcpExtListenOverflows']} | {'met' if met else '**not met**'} |"
        )
    lines += ["", "The same, median over the rounds (lowest-highest):", "",
              "| workers | TTFB p50 ms | TTFB p99 ms | total p50 ms | memory growth MB |",
              "|---|---|---|---|---|"]  # fmt: skip
    for workers in WORKERS:
        some = [run for run in runs if run.workers == workers]
        lines.append(
            f"| {workers} | {spread([statistics.median(r.first_byte) for r in some])} | "
            f"{spread([r.first_byte_p99 for r in some])} | "
            f"{spread([statistics.median(r.total) for r in some])} | "
            f"{spread([(r.rss_peak - r.rss_before) / 2**20 for r in some], 1)} |"
        )
    return lines
