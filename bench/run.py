"""`make bench`: every measurement of docs/benchmarks.md in one run, written there with PNG plots
in docs/benchmarks/. Runs the real service (fake model) on SQLite, MariaDB and the Galera cluster.

Usage: `.venv/bin/python bench/run.py [--quick] [--only NAME]` (`--quick` shrinks the runs, for a
smoke test; `--only startup` measures start-up alone, in a minute, and rewrites only its section;
`--only background` likewise for the memory of 500 background turns, which needs the Redis at
`CHATSERVICE_BENCH_REDIS_URL`, 127.0.0.1:6379 by default; `--only workers`, `streams` and
`galera` for the sections of bench/scale.py: 1 against 2 workers, 500 streams with workers, a
turn on the Galera cluster; `--only search` for chat search against the table's size;
`--only budgets` for budget claims against the size of the ledger).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import uvloop
from scale import SECTIONS, scale
from scenarios import (
    cumulative_vs_deltas,
    history,
    overhead,
    profile_http_turn,
    token_counting,
)
from services import REDIS_URL, mariadb_database
from startup import StartUp, replace_section, start_up, startup_section
from streaming import streaming

from chatservice.adapters.sqlalchemy.migrations import AlembicMigrations

ROOT = Path(__file__).parents[1]
REPORT = ROOT / "docs" / "benchmarks.md"
#: Concurrent streaming turns measured, up to the 500 of the target: where the first byte slows.
STREAMING_TURNS = (50, 100, 250, 500)


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def machine() -> str:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")), platform.processor()
    )  # fmt: skip
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, cwd=ROOT).stdout.strip()  # fmt: skip
    return (f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, "
            f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit {commit}")  # fmt: skip


async def measure(
    databases: dict[str, str],
    workdir: Path,
    quick: bool,
    startup: StartUp,
    background_databases: list[str],
) -> dict[str, object]:
    from background_turns import background_turns

    results: dict[str, object] = {"machine": machine(), "startup": startup}
    results["overhead"] = await overhead(databases, workdir, progress)
    results["profile"] = await profile_http_turn(
        databases["MariaDB"], workdir, 200 if quick else 1000, progress
    )
    results["history"] = await history(databases, workdir, progress)
    results["streaming"] = [
        await streaming(url, name, workdir, turns, progress)
        for name, url in databases.items()
        for turns in ((25, 100) if quick else STREAMING_TURNS)
    ]
    progress("token counting")
    results["tokens"] = token_counting()
    results["cumulative"] = await cumulative_vs_deltas(progress)
    results["background"] = await background_turns(
        background_databases, workdir, REDIS_URL, progress
    )
    return results


def main(quick: bool, only: str | None) -> None:
    # First, before the bench has started anything else on the machine.
    if only == "background":
        from background_turns import background_section, background_turns, databases

        workdir = Path(tempfile.mkdtemp(prefix="chatservice-bench-"))
        urls = databases(workdir, 2)
        runs = uvloop.run(background_turns(urls, workdir, REDIS_URL, progress))
        replace_section(REPORT, background_section(runs, machine()))
        progress("wrote the background turns section of docs/benchmarks.md")
        return
    if only == "search":
        write_search_section(Path(tempfile.mkdtemp(prefix="chatservice-bench-")))
        return
    if only == "budgets":
        write_budgets_section(Path(tempfile.mkdtemp(prefix="chatservice-bench-")), quick)
        return
    if only in SECTIONS:
        workdir = Path(tempfile.mkdtemp(prefix="chatservice-bench-"))
        results = scale(only, quick, workdir, progress)
        replace_section(REPORT, SECTIONS[only](results[only], machine()))
        progress(f"wrote the {only} section of docs/benchmarks.md")
        return
    startup = start_up(3 if quick else 10, progress)
    if only == "startup":
        replace_section(REPORT, startup_section(startup, machine()))
        progress("wrote the start-up section of docs/benchmarks.md")
        return
    workdir = Path(tempfile.mkdtemp(prefix="chatservice-bench-"))
    sqlite_url = f"sqlite+aiosqlite:///{workdir}/bench.db"
    AlembicMigrations(sqlite_url).upgrade_to_head()
    from background_turns import databases as background_databases

    with mariadb_database() as mariadb_url:
        databases = {"SQLite": sqlite_url, "MariaDB": mariadb_url}
        # The load generator on the same loop as the service: less of the shared CPU.
        results = uvloop.run(
            measure(databases, workdir, quick, startup, background_databases(workdir, 2))
        )
    results |= scale(None, quick, workdir, progress)
    from report import write_report  # matplotlib: not needed for the sections alone

    write_report(results, REPORT, ROOT / "docs" / "benchmarks")
    progress("wrote docs/benchmarks.md and docs/benchmarks/*.png")
    # Last: they fill their own databases with 100,000 messages and 100,000 ledger rows, which
    # the other runs must not see.
    write_search_section(workdir)
    write_budgets_section(workdir, quick)


def write_search_section(workdir: Path) -> None:
    """Measure chat search against the table's size and rewrite its section of the report."""
    from search import search_cost, search_section

    sqlite_url = f"sqlite+aiosqlite:///{workdir}/search.db"
    AlembicMigrations(sqlite_url).upgrade_to_head()
    with mariadb_database() as mariadb_url:
        timings = search_cost({"SQLite": sqlite_url, "MariaDB": mariadb_url}, progress)
    replace_section(REPORT, search_section(timings, machine()))
    progress("wrote the search section of docs/benchmarks.md")


def write_budgets_section(workdir: Path, quick: bool) -> None:
    """Measure budget claims against the ledger's size and rewrite their section of the report."""
    from budget_claims import budget_cost, budgets_section

    sqlite_url = f"sqlite+aiosqlite:///{workdir}/budgets.db"
    AlembicMigrations(sqlite_url).upgrade_to_head()
    with mariadb_database() as mariadb_url:
        timings, concurrent = budget_cost(
            {"SQLite": sqlite_url, "MariaDB": mariadb_url}, quick, progress
        )
    replace_section(REPORT, budgets_section(timings, concurrent, machine()))
    progress("wrote the budget claims section of docs/benchmarks.md")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", choices=["startup", "background", "search", "budgets", *SECTIONS])
    args = parser.parse_args()
    main(args.quick, args.only)
