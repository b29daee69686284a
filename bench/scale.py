"""Issue 17's benchmarks: past one process (`serve --workers`) and onto the Galera cluster. Each
runs in its own event loop on a fresh migrated MariaDB database; the cluster is started only for
its own section and stopped after it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvloop
from galera_turns import Database, galera_database, galera_section, galera_turns
from scale_workers import streams, streams_section, throughput, throughput_section
from services import mariadb_database
from sqlalchemy.engine import make_url

#: Rounds of each comparison: the spread over them is reported beside the median.
ROUNDS = 5
#: Each section's figures to its lines of docs/benchmarks.md, by the name `--only` takes.
SECTIONS: dict[str, Callable[[Any, str], list[str]]] = {
    "workers": throughput_section,
    "streams": streams_section,
    "galera": galera_section,
}


def scale(only: str | None, quick: bool, workdir: Path, progress: Callable[[str], None]
          ) -> dict[str, Any]:  # fmt: skip
    """The figures of every section of `SECTIONS`, or of `only` that one."""
    rounds = 2 if quick else ROUNDS
    results: dict[str, Any] = {}
    with mariadb_database() as url:
        if only in (None, "workers"):
            results["workers"] = uvloop.run(throughput(url, workdir, rounds, progress))
        if only in (None, "streams"):
            results["streams"] = uvloop.run(streams(url, workdir, rounds, progress))
        if only in (None, "galera"):
            one = Database("one MariaDB", url, (make_url(url).port or 3306,))
            with galera_database() as galera:
                results["galera"] = uvloop.run(
                    galera_turns([one, galera], workdir, rounds, progress)
                )
    return results
