"""Starting the processes a benchmark measures: `chatservice serve` and the bare baselines."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

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


@dataclass
class Running:
    process: subprocess.Popen[bytes]
    http_port: int
    grpc_port: int

    def rss_bytes(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0


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
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for_port(http_port)
        wait_for_port(grpc_port)
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
def mariadb_database() -> Iterator[str]:
    """A fresh, migrated MariaDB database for one benchmark run."""
    name = f"chatservice_bench_{secrets.token_hex(4)}"
    url = f"{MYSQL_SERVER}/{name}"
    _sql(f"CREATE DATABASE {name}")
    try:
        subprocess.run(
            [str(BIN / "chatservice"), "migrate"],
            env={"PATH": f"{BIN}:/usr/bin:/bin", "CHATSERVICE_DATABASE_URL": url},
            check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        yield url
    finally:
        _sql(f"DROP DATABASE {name}")


def _sql(statement: str) -> None:
    import asyncio

    from sqlalchemy.ext.asyncio import create_async_engine

    async def run() -> None:
        engine = create_async_engine(MYSQL_SERVER)
        async with engine.begin() as connection:
            await connection.execute(sa.text(statement))
        await engine.dispose()

    asyncio.run(run())
