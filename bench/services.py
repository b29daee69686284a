"""Starting the processes a benchmark measures: `chatservice serve` and the bare baselines."""

from __future__ import annotations

import os
import secrets
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from processes import tree_rss_bytes

BIN = Path(sys.executable).parent
TOKEN = "bench-token"
MYSQL_SERVER = os.environ.get("CHATSERVICE_BENCH_MYSQL_URL", "mysql+asyncmy://root@127.0.0.1:3306")
REDIS_URL = os.environ.get("CHATSERVICE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


def wait_for_announcement(process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    """Wait for `chatservice serve` to say where it listens: it does once it serves, with
    `--workers N` once all N workers do (the supervisor binds the ports before they start, so
    an open port does not mean a worker will answer). Nothing else is written to stdout."""
    assert process.stdout is not None
    deadline, said = time.monotonic() + timeout, b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], deadline - time.monotonic())
        # os.read: a buffered readline could keep the line select() waits for in its buffer.
        chunk = os.read(process.stdout.fileno(), 4096) if ready else b""
        said += chunk
        if b"chatservice: HTTP on" in said:
            return
        if not chunk and process.poll() is not None:
            break
    raise RuntimeError(f"chatservice serve did not start (exit {process.poll()})")


@dataclass
class Running:
    process: subprocess.Popen[bytes]
    http_port: int
    grpc_port: int

    def rss_bytes(self) -> int:
        """The server's resident set: with workers, the supervisor's and every worker's."""
        return tree_rss_bytes(self.process.pid)


@contextmanager
def chatservice(
    database_url: str, workdir: Path, profile_to: Path | None = None, **settings: object
) -> Iterator[Running]:
    """`chatservice serve` on fresh ports; under cProfile, written to `profile_to`, if given."""
    http_port, grpc_port = free_port(), free_port()
    env = {
        "PATH": f"{BIN}:/usr/bin:/bin",
        "CHATSERVICE_DATABASE_URL": database_url,
        "CHATSERVICE_AUTH_TOKENS": TOKEN,
        "CHATSERVICE_HTTP_PORT": str(http_port),
        "CHATSERVICE_GRPC_PORT": str(grpc_port),
        "CHATSERVICE_LOG_LEVEL": "WARNING",
        **{f"CHATSERVICE_{k.upper()}": str(v) for k, v in settings.items()},
    }
    command = [str(BIN / "chatservice"), "serve"]
    if profile_to is not None:
        command = [
            sys.executable,
            str(Path(__file__).parent / "profiled_serve.py"),
            str(profile_to),
        ]
    process = subprocess.Popen(
        command, cwd=workdir, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for_announcement(process)
        yield Running(process, http_port, grpc_port)
    finally:
        process.terminate()
        process.wait(30)


@contextmanager
def baseline(kind: str) -> Iterator[Running]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(Path(__file__).parent / "baselines.py"), kind, str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for_port(port)
        yield Running(process, port, port)
    finally:
        process.terminate()
        process.wait(30)


@contextmanager
def mariadb_database(server: str = MYSQL_SERVER) -> Iterator[str]:
    """A fresh, migrated database on the MariaDB `server` (a URL without a database) for one
    benchmark run."""
    name = f"chatservice_bench_{secrets.token_hex(4)}"
    url = f"{server}/{name}"
    _sql(server, f"CREATE DATABASE {name}")
    try:
        migrate(url)
        yield url
    finally:
        _sql(server, f"DROP DATABASE {name}")


def migrate(url: str) -> None:
    subprocess.run(
        [str(BIN / "chatservice"), "migrate"],
        env={"PATH": f"{BIN}:/usr/bin:/bin", "CHATSERVICE_DATABASE_URL": url},
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip


def _sql(server: str, statement: str) -> None:
    import asyncio

    from sqlalchemy.ext.asyncio import create_async_engine

    async def run() -> None:
        engine = create_async_engine(server)
        async with engine.begin() as connection:
            await connection.execute(sa.text(statement))
        await engine.dispose()

    asyncio.run(run())
