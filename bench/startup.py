"""Start-up: how long a newcomer waits for `chatservice serve` to answer, and for
`chatservice tokens` to print, each process started fresh."""

from __future__ import annotations

import http.client
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from processes import cpu_seconds
from services import BIN, free_port

MESSAGES = b'[{"role": "system", "content": "You are helpful."}, {"role": "user", "content": "Hi"}]'
#: The modules `chatservice serve` imports before it builds anything. Then `os._exit`: the
#: interpreter's clean-up at exit (about 0.3 s with these modules) is no part of a start-up.
SERVE_IMPORTS = (
    "import chatservice.entrypoints.cli, chatservice.entrypoints.container, "
    "chatservice.entrypoints.server, chatservice.adapters.sqlalchemy.migrations; "
    "import os; os._exit(0)"
)


@dataclass(frozen=True)
class Sample:
    #: From launching the process to the answer.
    wall: float
    #: The CPU the process used meanwhile (user + system), without its waits for a core.
    cpu: float


@dataclass(frozen=True)
class Timing:
    what: str
    samples: list[Sample]
    target: float | None = None

    @property
    def median(self) -> float:
        return statistics.median(s.wall for s in self.samples)

    @property
    def worst(self) -> float:
        return max(s.wall for s in self.samples)

    @property
    def median_cpu(self) -> float:
        return statistics.median(s.cpu for s in self.samples)


def _healthz_answers(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", "/healthz")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def serve_until_healthy(timeout: float = 60) -> Sample:
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
            return Sample(time.monotonic() - started, cpu_seconds(process.pid))
        finally:
            process.terminate()
            process.wait(30)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(command: list[str], stdin: bytes = b"") -> Sample:
    cpu_before, started = _children_cpu(), time.monotonic()
    # Outside the repository: its alembic/ folder would shadow the alembic package.
    subprocess.run(command, input=stdin, check=True, stdout=subprocess.DEVNULL,
                   cwd=tempfile.gettempdir(), env={"PATH": f"{BIN}:/usr/bin:/bin"})  # fmt: skip
    return Sample(time.monotonic() - started, _children_cpu() - cpu_before)


def count_tokens() -> Sample:
    return _run([str(BIN / "chatservice"), "tokens", "--model", "gpt-4o", "-"], MESSAGES)


@dataclass(frozen=True)
class StartUp:
    runs: int
    load_before: float
    load_after: float
    timings: list[Timing]


def start_up(runs: int, progress: Callable[[str], None]) -> StartUp:
    """Each measurement `runs` times, interleaved, so that a busy minute falls on all alike."""
    samples: dict[str, list[Sample]] = {
        name: [] for name in ("serve", "tokens", "python", "imports")
    }
    load_before = os.getloadavg()[0]
    for run in range(runs):
        progress(f"start-up, round {run + 1} of {runs}")
        samples["serve"].append(serve_until_healthy())
        samples["tokens"].append(count_tokens())
        samples["python"].append(_run([sys.executable, "-c", "pass"]))
        samples["imports"].append(_run([sys.executable, "-c", SERVE_IMPORTS]))
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
        "## 7. Start-up",
        "",
        f"Each process is started fresh, each measurement once a round, {figures.runs} rounds.",
        "`serve` runs on the fake model and SQLite in a new empty directory, so it also makes the",
        "schema; its time runs from launching the command to the first 200 from `/healthz`. A",
        "target is met when every round meets it. The targets are set for an idle machine, so",
        "the load average is shown, and the CPU time each process used (user + system), which",
        "leaves out the time it waited for a core. The last two lines are parts of the first two.",
        "This section alone: `make bench-startup` (`.venv/bin/python bench/run.py --only startup`).",
        "",
        f"Measured: {machine}; load average (1 min) {figures.load_before:.2f} before, "
        f"{figures.load_after:.2f} after.",
        "",
        "| what | median s | max s | CPU s, median | target | |",
        "|---|---|---|---|---|---|",
    ]
    for timing in figures.timings:
        if timing.target is None:
            target, verdict = "-", ""
        else:
            met = timing.worst <= timing.target
            target, verdict = f"≤ {timing.target:g} s", "met" if met else "**not met**"
        lines.append(
            f"| {timing.what} | {timing.median:.2f} | {timing.worst:.2f} | "
            f"{timing.median_cpu:.2f} | {target} | {verdict} |"
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
