"""What the benchmarks read about processes and the machine from /proc: a process tree's memory
and CPU time, the machine's busy CPU, the MariaDB servers' CPU, and the kernel's TCP counters.

Under `serve --workers N` the service is a supervisor and N worker processes, so its memory and
CPU are those of the whole tree. The machine is shared, so each measured window also records
what the whole machine did meanwhile (load average, busy cores).
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
#: The kernel's TCP counters a run reports (nstat's names): accept queues that overflowed, and
#: resets sent and received. They count for the whole machine.
TCP_COUNTERS = ("TcpExtListenOverflows", "TcpExtListenDrops", "TcpOutRsts", "TcpEstabResets",
                "TcpExtTCPAbortOnClose", "TcpExtTCPAbortOnData")  # fmt: skip


def tree(pid: int) -> list[int]:
    """`pid` and every process descended from it that is still running."""
    pids, index = [pid], 0
    while index < len(pids):
        for task in Path(f"/proc/{pids[index]}/task").glob("*"):
            with contextlib.suppress(OSError):  # the task ended meanwhile
                pids += [int(child) for child in (task / "children").read_text().split()]
        index += 1
    return pids


def _stat_fields(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a running process (every thread), from /proc/PID/stat."""
    fields = _stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def tree_cpu_seconds(pid: int) -> dict[int, float]:
    """The CPU time of `pid` and of each of its descendants, by pid."""
    seconds = {}
    for member in tree(pid):
        with contextlib.suppress(OSError):  # ended meanwhile
            seconds[member] = cpu_seconds(member)
    return seconds


def tree_rss_bytes(pid: int) -> int:
    """The resident sets of `pid` and its descendants, added up."""
    total = 0
    for member in tree(pid):
        try:
            status = Path(f"/proc/{member}/status").read_text().splitlines()
        except OSError:
            continue
        total += next((int(line.split()[1]) * 1024 for line in status
                       if line.startswith("VmRSS:")), 0)  # fmt: skip
    return total


def mariadb_pids(port: int) -> list[int]:
    """The `mariadbd` processes serving `port`: the machine's own (3306) or a node of
    scripts/galera-cluster."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if (proc / "comm").read_text().strip() != "mariadbd":
                continue
            command = (proc / "cmdline").read_text()
        except OSError:
            continue
        config = next((part.split("=", 1)[1] for part in command.split("\0")
                       if part.startswith("--defaults-file=")), None)  # fmt: skip
        # The machine's own server has no port in its command line; a Galera node has it in the
        # configuration file the command names.
        if port == 3306 if config is None else f"port = {port}\n" in Path(config).read_text():
            found.append(int(proc.name))
    return found


def busy_and_total_ticks() -> tuple[int, int]:
    """The machine's CPU ticks since boot: busy (not idle, not waiting for I/O), and all."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def tcp_counters() -> dict[str, int]:
    """`TCP_COUNTERS` as the kernel has them now (since boot, the whole machine)."""
    values: dict[str, int] = {}
    for table in ("/proc/net/snmp", "/proc/net/netstat"):
        lines = Path(table).read_text().splitlines()
        for header, numbers in zip(lines[::2], lines[1::2], strict=True):
            prefix, *keys = header.split()
            for key, number in zip(keys, numbers.split()[1:], strict=True):
                if (name := prefix.rstrip(":") + key) in TCP_COUNTERS:
                    values[name] = int(number)
    return values


@dataclass(frozen=True)
class Use:
    """Where a measured window's CPU went, in cores (CPU seconds per second of the window)."""

    seconds: float
    server_cores: float
    #: The service's processes, busiest first: with workers, how the work was shared out.
    process_cores: list[float]
    client_cores: float
    database_cores: float
    #: Every busy core of the machine: the three above, and whatever else ran meanwhile.
    machine_cores: float
    #: The load average (1 minute) at the end of the window.
    load: float
    #: How much each of `TCP_COUNTERS` grew during the window.
    tcp: dict[str, int]
    #: The connections each of the service's processes held at the start, most first.
    connections: list[int]


class Meter:
    """Measures a window from `start()` to `stop()`: the service's process tree (`server`, and
    at the start the connections to its `port` each of its processes holds), this process (the
    load generator), the `database` processes and the whole machine."""

    def __init__(self, server: int | None, database: list[int], port: int | None = None) -> None:
        self._server, self._database, self._port = server, database, port
        self._connections: list[int] = []

    def start(self) -> None:
        if self._server and self._port:
            held = connections_by_process(self._port)
            self._connections = sorted((held[p] for p in tree(self._server) if held[p]),
                                       reverse=True)  # fmt: skip
        self._begin = self._now()

    def _now(self) -> tuple[float, dict[int, float], float, float, tuple[int, int], dict[str, int]]:
        database = 0.0
        for pid in self._database:
            with contextlib.suppress(OSError):  # a node killed meanwhile
                database += cpu_seconds(pid)
        server = tree_cpu_seconds(self._server) if self._server else {}
        return (time.monotonic(), server, time.process_time(), database, busy_and_total_ticks(),
                tcp_counters())  # fmt: skip

    def stop(self) -> Use:
        wall0, server0, client0, database0, (busy0, total0), tcp0 = self._begin
        wall, server, client, database, (busy, total), tcp = self._now()
        seconds = wall - wall0
        processes = sorted(((cpu - server0.get(pid, 0.0)) / seconds for pid, cpu in server.items()),
                           reverse=True)  # fmt: skip
        cores = os.cpu_count() or 1
        return Use(seconds, sum(processes), processes, (client - client0) / seconds,
                   (database - database0) / seconds, cores * (busy - busy0) / max(1, total - total0),
                   os.getloadavg()[0], {name: tcp[name] - tcp0.get(name, 0) for name in tcp},
                   self._connections)  # fmt: skip


def connections_by_process(port: int) -> Counter[int]:
    """How many established TCP connections to local `port` each process holds (`ss -p`): with
    workers, how the kernel shared the clients out among them."""
    listing = subprocess.run(["ss", "-Htnp", "state", "established", f"( sport = :{port} )"],
                             capture_output=True, text=True, check=False).stdout  # fmt: skip
    return Counter(int(pid) for pid in re.findall(r"pid=(\d+)", listing))
