"""The three-node MariaDB Galera cluster of scripts/galera-cluster, for one test session.

The cluster lives in CHATSERVICE_TEST_GALERA_DIR (default /tmp/chatservice-galera) on the ports
from CHATSERVICE_TEST_GALERA_BASE_PORT (default 13306: SQL on 13306-13308). A session holds an
exclusive lock on it from start to stop, so two sessions on one machine take turns instead of
killing nodes under each other. Clients connect as root@127.0.0.1 without a password.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from support.databases import execute_on_server

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "galera-cluster"
DIRECTORY = Path(os.environ.get("CHATSERVICE_TEST_GALERA_DIR", "/tmp/chatservice-galera"))
BASE_PORT = int(os.environ.get("CHATSERVICE_TEST_GALERA_BASE_PORT", "13306"))
NODES = (1, 2, 3)
# A cold start (system tables, two full state transfers) takes 10-20 s on a busy 2-core machine.
SCRIPT_TIMEOUT_SECONDS = 600
# Another session may hold the cluster for its whole run.
LOCK_TIMEOUT_SECONDS = 1800


class GaleraClusterError(RuntimeError):
    """The cluster could not be started, stopped, killed or restarted; the message says why."""


@dataclass(frozen=True)
class GaleraCluster:
    directory: Path
    base_port: int
    database: str

    def port(self, node: int) -> int:
        return self.base_port + node - 1

    def url(self, node: int) -> str:
        return f"mysql+asyncmy://root@127.0.0.1:{self.port(node)}/{self.database}"

    @property
    def urls(self) -> list[str]:
        """The SQLAlchemy URL of the session's database through node 1, 2 and 3."""
        return [self.url(node) for node in NODES]

    def kill(self, node: int) -> None:
        """SIGKILL the node's mariadbd; returns once the process is gone."""
        self._run("kill", str(node))

    def isolate(self, node: int) -> None:
        """Cut the node off from its peers: it runs on, refusing queries (1047) until `restart`."""
        self._run("isolate", str(node))

    def restart(self, node: int) -> None:
        """Start the node again if it is down, or let it rejoin if it is isolated; returns once
        it is Synced with the others."""
        self._run("restart", str(node))

    def start(self) -> None:
        """Start every node that is down; returns once all three are Synced in one cluster."""
        self._run("start")

    def stop(self) -> None:
        self._run("stop")

    def _run(self, *command: str) -> None:
        run_script(*command, "--dir", str(self.directory), "--base-port", str(self.base_port))


def run_script(*arguments: str) -> None:
    try:
        finished = subprocess.run(
            [str(SCRIPT), *arguments],
            capture_output=True,
            text=True,
            timeout=SCRIPT_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise GaleraClusterError(f"{SCRIPT.name} {' '.join(arguments)}: {error}") from error
    if finished.returncode != 0:
        raise GaleraClusterError(
            f"{SCRIPT.name} {' '.join(arguments)} failed ({finished.returncode}):\n"
            f"{finished.stderr.strip()}"
        )


@contextmanager
def exclusive_use(directory: Path) -> Iterator[None]:
    directory.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{directory}.session-lock", "w") as lock:
        deadline = time.monotonic() + LOCK_TIMEOUT_SECONDS
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise GaleraClusterError(
                        f"another test session has held the Galera cluster in {directory} for "
                        f"{LOCK_TIMEOUT_SECONDS} s; set CHATSERVICE_TEST_GALERA_DIR and "
                        "CHATSERVICE_TEST_GALERA_BASE_PORT to run a second cluster"
                    ) from None
                time.sleep(1)  # polling a lock another process holds; no event to wait on
        yield


@contextmanager
def running_galera_cluster(
    directory: Path = DIRECTORY, base_port: int = BASE_PORT
) -> Iterator[GaleraCluster]:
    """A started cluster with a fresh database (made through node 1), stopped on exit."""
    database = f"chatservice_galera_{secrets.token_hex(6)}"
    cluster = GaleraCluster(directory, base_port, database)
    with exclusive_use(directory):
        try:
            cluster.start()
            server_url = f"mysql+asyncmy://root@127.0.0.1:{cluster.port(1)}"
            asyncio.run(
                execute_on_server(
                    f"CREATE DATABASE {database} CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci",
                    server_url,
                )
            )
            yield cluster
            cluster.start()  # a test may have left a node down; the drop needs a primary
            asyncio.run(execute_on_server(f"DROP DATABASE {database}", server_url))
        finally:
            cluster.stop()
