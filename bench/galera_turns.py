"""A turn on the three-node Galera cluster of scripts/galera-cluster against one MariaDB.

The same service (one process, the fake model, the window of section 1) on the machine's own
MariaDB and on node 1 of the cluster: HTTP turns at one connection (latency) and at 32 (turns/s),
and, under them, the turn's SQL by hand on the bare driver at one connection: what the database
alone takes. Interleaved, several rounds. The cluster is started through the tests' own helper
(tests/support/galera.py), which holds the cluster's lock, so a test session and this benchmark
take turns; it is stopped at the end.

Usage: `.venv/bin/python bench/run.py --only galera` (`make bench-galera`), rewriting its
section of docs/benchmarks.md.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from clients import Latencies
from direct_sql import direct_sql_load
from processes import Meter, Use, mariadb_pids
from rounds import cores, interleaved, loads, per_turn, spread
from scenarios import WINDOW_OF_FIVE_EXCHANGES, http_load
from services import chatservice, migrate

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
from support.galera import running_galera_cluster

Progress = Callable[[str], None]
#: (what, connections, turns per connection)
MEASURES = (("the turn's SQL by hand on the bare driver", 1, 300),
            ("chatservice HTTP turn", 1, 300), ("chatservice HTTP turn", 32, 40))  # fmt: skip


@dataclass(frozen=True)
class Database:
    name: str
    url: str
    #: The SQL ports of every server it takes: the three nodes replicate each other's writes.
    ports: tuple[int, ...]


@dataclass(frozen=True)
class GaleraRun:
    database: str
    what: str
    connections: int
    round: int
    result: Latencies
    use: Use


@contextmanager
def galera_database() -> Iterator[Database]:
    """The cluster, started, with a fresh migrated database, reached through node 1."""
    with running_galera_cluster() as cluster:
        migrate(cluster.url(1))
        yield Database("Galera, node 1 of 3", cluster.url(1), tuple(map(cluster.port, (1, 2, 3))))


async def galera_turns(databases: list[Database], workdir: Path, rounds: int, progress: Progress
                       ) -> list[GaleraRun]:  # fmt: skip
    runs = []
    for round_number, (database, (what, connections, each)) in interleaved(
        [(d, m) for m in MEASURES for d in databases], rounds
    ):
        progress(f"galera, round {round_number}: {what}, {connections} conn., {database.name}")
        pids = [pid for port in database.ports for pid in mariadb_pids(port)]
        if what.startswith("chatservice"):
            with chatservice(database.url, workdir, **WINDOW_OF_FIVE_EXCHANGES) as service:
                meter = Meter(service.process.pid, pids)
                result = await http_load(service.http_port, connections, each, True, meter.start)
                use = meter.stop()  # while the service still runs
        else:
            meter = Meter(None, pids)
            result = await direct_sql_load(database.url, connections, each, meter.start)
            use = meter.stop()
        runs.append(GaleraRun(database.name, what, connections, round_number, result, use))
    return runs


def galera_section(runs: list[GaleraRun], machine: str) -> list[str]:
    rounds = max(run.round for run in runs)
    lines = [
        "## 10. A turn on the Galera cluster against one MariaDB",
        "",
        "The same service (one process, fake model, the window of section 1) on the machine's own",
        "MariaDB and on node 1 of the three-node Galera cluster of `scripts/galera-cluster`, all",
        "three nodes on this machine. Under the turns, the turn's SQL by hand on the bare driver:",
        "what the database alone takes. Each line is measured once a round, interleaved, "
        f"{rounds} rounds;",
        "figures are the median over the rounds (lowest–highest). CPU as in section 8, for the",
        "round with the median p50; for Galera, MariaDB is the three nodes together.",
        "This section alone: `make bench-galera` (`bench/run.py --only galera`).",
        "",
        f"Measured: {machine}; load average (1 min) over the rounds {loads([r.use for r in runs])}.",
        "",
        "| what | database | connections | p50 ms | p99 ms | turns/s | errors | MariaDB CPU ms a "
        "turn | CPU, median round |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for what, connections, _ in MEASURES:
        for database in dict.fromkeys(run.database for run in runs):
            some = [r for r in runs if (r.what, r.connections, r.database)
                    == (what, connections, database)]  # fmt: skip
            median = sorted(some, key=lambda r: r.result.p50)[len(some) // 2]
            database_per_turn = [per_turn(r.use.database_cores, r.use.seconds,
                                          len(r.result.seconds)) for r in some]  # fmt: skip
            lines.append(
                f"| {what} | {database} | {connections} | {spread([r.result.p50 for r in some], 2)} | "
                f"{spread([r.result.percentile(99) for r in some], 2)} | "
                f"{spread([r.result.rate for r in some])} | {sum(r.result.errors for r in some)} | "
                f"{spread(database_per_turn, 2)} | {cores(median.use)} |"
            )
    return lines + _ratios(runs)


def _ratios(runs: list[GaleraRun]) -> list[str]:
    """Galera's figure over one MariaDB's, within each round (both measured minutes apart at
    most), then the median and range of those ratios."""
    lines = ["", "Galera over one MariaDB, each round's ratio, median (lowest-highest):", "",
             "| what | connections | p50 | turns/s |", "|---|---|---|---|"]  # fmt: skip
    names = list(dict.fromkeys(run.database for run in runs))
    for what, connections, _ in MEASURES:
        pairs = [[r for r in runs if (r.what, r.connections, r.database) == (what, connections, n)]
                 for n in names]  # fmt: skip
        p50 = [g.result.p50 / o.result.p50 for o, g in zip(*pairs, strict=True)]
        rate = [g.result.rate / o.result.rate for o, g in zip(*pairs, strict=True)]
        lines.append(f"| {what} | {connections} | {spread(p50, 2)} × | {spread(rate, 2)} × |")
    return lines
