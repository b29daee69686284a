"""`chatservice serve --workers N`: a supervisor and N worker processes on the same ports.

The supervisor binds the HTTP and gRPC listening sockets once and starts each worker as a fresh
interpreter (`python -m chatservice.entrypoints.worker`) that inherits both sockets and reads
its settings from its stdin. Every worker accepts from the same two sockets, so the kernel hands
each new connection to one of them. A worker that dies is started again; meanwhile the
connections that arrive wait in the sockets' queue, which the supervisor keeps open, for the
other workers or the new one (docs/adr/0008-workers-share-sockets-bound-by-a-supervisor.md).

SIGTERM or SIGINT is passed on to every worker, each of which drains as a lone process does
(`server.py`: requests and turns in flight get `shutdown_grace_seconds`); the supervisor exits
once all of them have. The supervisor itself serves nothing and holds no database connection.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from prometheus_client.multiprocess import mark_process_dead

from chatservice.entrypoints.server import Listeners, announce
from chatservice.entrypoints.settings import Settings

log = logging.getLogger(__name__)

#: Connections each listening socket holds before they are accepted: they wait there while
#: every worker is busy or a dead one is being replaced.
BACKLOG = 2048
#: A worker that ran this long before it died was not crash-looping.
STEADY_SECONDS = 10.0
#: The longest pause before starting again a worker that keeps dying.
LONGEST_PAUSE_SECONDS = 30.0
#: How long past twice the grace period (requests, then the service's own tasks) a worker may
#: take to exit after SIGTERM before it is killed.
EXIT_MARGIN_SECONDS = 10.0
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
#: How a worker is started; the supervisor adds `--http-fd`, `--grpc-fd` and `--ready-fd`.
WORKER_COMMAND = (sys.executable, "-m", "chatservice.entrypoints.worker")


class RestartPauses:
    """How long to wait before starting again a worker that died.

    A worker that ran steadily (`STEADY_SECONDS` or more) is replaced at once, and so is the
    first in a row to die sooner; each further quick death doubles the pause, from 1 s up to
    `LONGEST_PAUSE_SECONDS`, so that a worker that cannot start does not spin.
    """

    def __init__(self) -> None:
        self._quick_deaths = 0

    def after(self, ran_seconds: float) -> float:
        if ran_seconds >= STEADY_SECONDS:
            self._quick_deaths = 0
            return 0.0
        self._quick_deaths += 1
        if self._quick_deaths == 1:
            return 0.0
        return float(min(2 ** (self._quick_deaths - 2), LONGEST_PAUSE_SECONDS))


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on `host` (an IPv6 address when it holds a colon, as uvicorn
    reads it) and `port` (0: any free port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
        listener.listen(BACKLOG)
    except OSError:
        listener.close()
        raise
    return listener


def serve_with_workers(settings: Settings, generated_token: str | None) -> int:
    """Serve with `settings.worker_count` workers until SIGTERM or SIGINT has drained them all:
    0, or 1 when a worker could not start or had to be killed; 2 when a port cannot be bound."""
    try:
        http = bind(settings.host, settings.http_port)
        grpc = bind(settings.host, settings.grpc_port)
    except OSError as error:
        print(f"chatservice: cannot listen on {settings.host}: {error}", file=sys.stderr)
        return 2
    listeners = Listeners(http=http, grpc=grpc)
    if settings.turns_per_minute_per_user and settings.turn_limit_store == "process":
        log.warning(
            "each of the %d workers counts turns_per_minute_per_user on its own; "
            "set redis_url to share one count",
            settings.worker_count,
        )

    def all_ready() -> None:
        http_port, grpc_port = http.getsockname()[1], grpc.getsockname()[1]
        announce(settings.host, http_port, grpc_port, generated_token)

    # prometheus-client's multiprocess mode: each worker writes its metrics to files of its own
    # in this directory, and /metrics, whichever worker answers it, reads them all.
    metrics_dir = tempfile.mkdtemp(prefix="chatservice-metrics-")
    log.info("the workers' metrics are gathered in %s", metrics_dir)
    env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=metrics_dir)

    def worker_exited(pid: int) -> None:
        # Its gauges stop counting (`chatservice_active_turns`); its counters stay in the sums.
        mark_process_dead(pid, metrics_dir)  # type: ignore[no-untyped-call]

    try:
        supervisor = Supervisor(settings, listeners, env, worker_exited)
        return asyncio.run(supervisor.run(all_ready))
    finally:
        http.close()
        grpc.close()
        shutil.rmtree(metrics_dir, ignore_errors=True)


@dataclass(frozen=True)
class _Worker:
    process: asyncio.subprocess.Process
    started: float


class Supervisor:
    """Keeps `settings.worker_count` workers running on `listeners` until told to stop;
    `worker_exited` hears of each worker's end, by its pid."""

    def __init__(
        self,
        settings: Settings,
        listeners: Listeners,
        env: dict[str, str],
        worker_exited: Callable[[int], None] = lambda pid: None,
        command: Sequence[str] = WORKER_COMMAND,
    ) -> None:
        self._count = settings.worker_count
        self._worker_exited = worker_exited
        self._command = command
        self._settings_line = settings.model_dump_json().encode() + b"\n"
        self._listeners = listeners
        self._env = env
        self._exit_seconds = 2 * settings.shutdown_grace_seconds + EXIT_MARGIN_SECONDS
        #: The latest worker of each slot (0 to N-1).
        self._workers: dict[int, _Worker] = {}
        self._stopping = asyncio.Event()
        self._stop_signal = signal.SIGTERM

    async def run(self, all_ready: Callable[[], None]) -> int:
        loop = asyncio.get_running_loop()
        for sig in _STOP_SIGNALS:
            loop.add_signal_handler(sig, self._stop, sig)
        log.info("starting %d workers", self._count)
        started = await asyncio.gather(*(self._start(slot) for slot in range(self._count)))
        failed = not all(started) and not self._stopping.is_set()
        if failed:
            # A worker that cannot start the first time (its output says why) would most
            # likely fail the same way again: better to stop than to spin.
            log.error("a worker did not start; stopping the others")
            self._stop(signal.SIGTERM)
        elif not self._stopping.is_set():
            all_ready()
        keepers = [asyncio.create_task(self._keep(slot)) for slot in range(self._count)]
        await self._stopping.wait()
        # No worker will be started any more: the sockets close once the workers close theirs.
        self._listeners.http.close()
        self._listeners.grpc.close()
        exited_by_themselves = await self._wait_for_exits(keepers)
        for sig in _STOP_SIGNALS:
            loop.remove_signal_handler(sig)
        return 0 if exited_by_themselves and not failed else 1

    def _stop(self, sig: int) -> None:
        if not self._stopping.is_set():
            log.info("stopping: passing %s on to the workers", signal.Signals(sig).name)
        self._stop_signal = signal.Signals(sig)
        self._stopping.set()
        for worker in self._workers.values():
            if worker.process.returncode is None:
                worker.process.send_signal(sig)

    async def _start(self, slot: int) -> bool:
        """Start the worker of `slot`; whether it came to serve (False: it died first)."""
        began = time.monotonic()
        ready_read, ready_write = os.pipe()
        http_fd, grpc_fd = self._listeners.http.fileno(), self._listeners.grpc.fileno()
        try:
            process = await asyncio.create_subprocess_exec(
                *self._command,
                f"--http-fd={http_fd}",
                f"--grpc-fd={grpc_fd}",
                f"--ready-fd={ready_write}",
                stdin=asyncio.subprocess.PIPE,
                pass_fds=(http_fd, grpc_fd, ready_write),
                env=self._env,
            )
        except BaseException:
            os.close(ready_read)
            raise
        finally:
            os.close(ready_write)
        self._workers[slot] = _Worker(process, began)
        if self._stopping.is_set():
            process.send_signal(self._stop_signal)
        assert process.stdin is not None
        # Left open: the worker takes the end of its stdin for the end of the supervisor.
        process.stdin.write(self._settings_line)
        ready = await _read_once(ready_read)
        if ready:
            log.info(
                "worker %d (pid %d) ready in %.1f s", slot, process.pid, time.monotonic() - began
            )
        return ready

    async def _keep(self, slot: int) -> None:
        """Start the worker of `slot` again each time it dies, until the supervisor stops."""
        pauses = RestartPauses()
        while True:
            worker = self._workers[slot]
            code = await worker.process.wait()
            self._worker_exited(worker.process.pid)
            if self._stopping.is_set():
                _log_exit(slot, worker.process.pid, code)
                return
            pause = pauses.after(time.monotonic() - worker.started)
            log.warning(
                "worker %d (pid %d) died (%s); starting it again in %.0f s",
                slot,
                worker.process.pid,
                _status(code),
                pause,
            )
            try:
                async with asyncio.timeout(pause):
                    await self._stopping.wait()
                return
            except TimeoutError:
                await self._start(slot)

    async def _wait_for_exits(self, keepers: list[asyncio.Task[None]]) -> bool:
        """Wait for the workers to exit (for `keepers` to end); kill those still running after
        the time they have. Whether all of them exited by themselves."""
        _, late = await asyncio.wait(keepers, timeout=self._exit_seconds)
        if not late:
            return True
        for slot, worker in self._workers.items():
            if worker.process.returncode is None:
                log.error(
                    "worker %d (pid %d) did not exit in time; killing it", slot, worker.process.pid
                )
                worker.process.kill()
        await asyncio.wait(late)
        return False


async def _read_once(fd: int) -> bool:
    """Whether a byte comes through the pipe at `fd` before it closes (then closed)."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb", buffering=0)
    )
    try:
        return bool(await reader.read(1))
    finally:
        transport.close()


def _status(code: int) -> str:
    if code < 0:
        return f"signal {signal.Signals(-code).name}"
    return f"exit code {code}"


def _log_exit(slot: int, pid: int, code: int) -> None:
    level = logging.INFO if code == 0 else logging.WARNING
    log.log(level, "worker %d (pid %d) exited (%s)", slot, pid, _status(code))
