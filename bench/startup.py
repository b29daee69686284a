"""Start-up: how long a newcomer waits for `chatservice serve` to answer, and for
`chatservice tokens` to print, each process started fresh."""

from __future__ import annotations

import http.client
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from services import BIN, free_port

MESSAGES = b'[{"role": "system", "content": "You are helpful."}, {"role": "user", "content": "Hi"}]'
#: The modules `chatservice serve` imports before it builds anything.
SERVE_IMPORTS = (
    "import chatservice.entrypoints.cli, chatservice.entrypoints.container, "
    "chatservice.entrypoints.server, chatservice.adapters.sqlalchemy.migrations"
)


@dataclass(frozen=True)
class Timing:
    what: str
    seconds: list[float]
    target: float | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def worst(self) -> float:
        return max(self.seconds)


def _healthz_answers(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", "/healthz")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def serve_until_healthy(timeout: float = 60) -> float:
    """Seconds from launching `chatservice serve` (fake model, SQLite in a fresh directory, so the
    schema is made too) to the first 200 from /healthz."""
    http_port, grpc_port = free_port(), free_port()
    env = {
        "PATH": f"{BIN}:/usr/bin:/bin",
        "CHATSERVICE_HTTP_PORT": str(http_port),
        "CHATSERVICE_GRPC_PORT": str(grpc_port),
    }
    with tempfile.TemporaryDirectory(prefix="chatservice-start-") as workdir:
        started = time.monotonic()
        process = subprocess.Popen(
            [str(BIN / "chatservice"), "serve"], cwd=workdir, env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            while not _healthz_answers(http_port):
                if process.poll() is not None or time.monotonic() - started > timeout:
                    raise RuntimeError(f"chatservice serve did not answer (exit {process.poll()})")
                time.sleep(0.005)
            return time.monotonic() - started
        finally:
            process.terminate()
            process.wait(30)


def _wall_time(command: list[str], stdin: bytes = b"") -> float:
    # Outside the repository: its alembic/ folder would shadow the alembic package.
    started = time.monotonic()
    subprocess.run(command, input=stdin, check=True, stdout=subprocess.DEVNULL,
                   cwd=tempfile.gettempdir(), env={"PATH": f"{BIN}:/usr/bin:/bin"})  # fmt: skip
    return time.monotonic() - started


def tokens_wall_time() -> float:
    return _wall_time([str(BIN / "chatservice"), "tokens", "--model", "gpt-4o", "-"], MESSAGES)


@dataclass(frozen=True)
class StartUp:
    runs: int
    load_before: float
    load_after: float
    timings: list[Timing]


def start_up(runs: int, progress: Callable[[str], None]) -> StartUp:
    """Each measurement `runs` times, interleaved, so that a busy minute falls on all alike."""
    samples: dict[str, list[float]] = {
        name: [] for name in ("serve", "tokens", "python", "imports")
    }
    load_before = os.getloadavg()[0]
    for run in range(runs):
        progress(f"start-up, round {run + 1} of {runs}")
        samples["serve"].append(serve_until_healthy())
        samples["tokens"].append(tokens_wall_time())
        samples["python"].append(_wall_time([sys.executable, "-c", "pass"]))
        samples["imports"].append(_wall_time([sys.executable, "-c", SERVE_IMPORTS]))
    return StartUp(runs, load_before, os.getloadavg()[0], [
        Timing("`chatservice serve`: launch to the first 200 from /healthz", samples["serve"], 2),
        Timing("`chatservice tokens --model gpt-4o -` (two messages)", samples["tokens"], 1),
        Timing("part of both: the interpreter alone (`python -c pass`)", samples["python"]),
        Timing("part of `serve`: importing what it imports before it builds anything",
               samples["imports"]),
    ])  # fmt: skip


def startup_section(figures: StartUp, machine: str) -> list[str]:
    """The start-up section of docs/benchmarks.md."""
    lines = [
        "## 6. Start-up",
        "",
        f"Each process is started fresh, each measurement once a round, {figures.runs} rounds.",
        "`serve` runs on the fake model and SQLite in a new empty directory, so it also makes the",
        "schema; its time runs from launching the command to the first 200 from `/healthz`. A",
        "target is met when every round meets it; the targets are set for an idle machine, so",
        "the load average is shown. The last two lines are parts of the first two.",
        "This section alone: `make bench-startup` (`.venv/bin/python bench/run.py --only startup`).",
        "",
        f"Measured: {machine}; load average (1 min) {figures.load_before:.2f} before, "
        f"{figures.load_after:.2f} after.",
        "",
        "| what | median s | max s | target | |",
        "|---|---|---|---|---|",
    ]
    for timing in figures.timings:
        if timing.target is None:
            target, verdict = "-", ""
        else:
            met = timing.worst <= timing.target
            target, verdict = f"≤ {timing.target:g} s", "met" if met else "**not met**"
        lines.append(
            f"| {timing.what} | {timing.median:.2f} | {timing.worst:.2f} | {target} | {verdict} |"
        )
    return lines


def replace_section(markdown: Path, section: list[str]) -> None:
    """Put `section` in place of the section of docs/benchmarks.md with the same heading (up to
    the next heading of its level), or before the hand-written analysis if there is none yet."""
    lines = markdown.read_text().splitlines()
    heading = section[0]
    if heading in lines:
        start = lines.index(heading)
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")),
                   len(lines))  # fmt: skip
    else:
        analysis = next(line for line in (Path(__file__).parent / "analysis.md").read_text()
                        .splitlines() if line)  # fmt: skip
        start = end = lines.index(analysis)
    lines[start:end] = [*section, ""]
    markdown.write_text("\n".join(lines) + "\n")
