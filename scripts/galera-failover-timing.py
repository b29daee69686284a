"""Measure what a SIGKILLed Galera node costs the survivors, and how long it takes to rejoin.

Usage (as root, from the repository root, with the project's virtualenv):

    .venv/bin/python scripts/galera-failover-timing.py [--rounds N] [--dir DIR] [--base-port P]

Starts the cluster of scripts/galera-cluster if needed, then in each round: one writer on node 1
and one on node 3 insert rows back to back (autocommit, one row per statement); node 2 is killed
with SIGKILL; the longest single INSERT on a survivor is the write pause. Then node 2 is
restarted while the writers go on: the time until it is Synced again is the rejoin time, and the
longest INSERT meanwhile is what its state transfer costs the donor. docs/scaling.md ("The test
cluster") holds the figures this printed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import time
from pathlib import Path

import asyncmy

SCRIPT = Path(__file__).with_name("galera-cluster")
DATABASE = f"galera_failover_timing_{os.getpid()}"
STEADY_SECONDS = 2.0  # writes before the kill, to see their ordinary latency
AFTER_SECONDS = 6.0  # writes after the kill: longer than any pause seen


def cluster(*args: str, options: list[str]) -> float:
    began = time.monotonic()
    subprocess.run([str(SCRIPT), *args, *options], check=True)
    return time.monotonic() - began


Insert = tuple[float, float]  # (began, ended), monotonic seconds


async def write_until(port: int, stop: asyncio.Event, inserts: list[Insert]) -> None:
    connection = await asyncmy.connect(
        host="127.0.0.1", port=port, user="root", database=DATABASE, autocommit=True
    )
    try:
        async with connection.cursor() as cursor:
            while not stop.is_set():
                began = time.monotonic()
                await cursor.execute("INSERT INTO timing (node) VALUES (%s)", (port,))
                inserts.append((began, time.monotonic()))
    finally:
        connection.close()


def longest(inserts: list[Insert], start: float, end: float) -> float:
    """The longest INSERT that was running at some moment between start and end."""
    return max(ended - began for began, ended in inserts if began < end and ended > start)


async def one_round(ports: list[int], options: list[str]) -> str:
    stop = asyncio.Event()
    inserts: list[Insert] = []
    writers = [
        asyncio.create_task(write_until(ports[0], stop, inserts)),
        asyncio.create_task(write_until(ports[2], stop, inserts)),
    ]
    await asyncio.sleep(STEADY_SECONDS)
    steady = statistics.median(ended - began for began, ended in inserts)
    killed = time.monotonic()
    await asyncio.to_thread(cluster, "kill", "2", options=options)
    await asyncio.sleep(AFTER_SECONDS)
    restarted = time.monotonic()
    await asyncio.to_thread(cluster, "restart", "2", options=options)
    synced = time.monotonic()
    await asyncio.sleep(STEADY_SECONDS)
    stop.set()
    await asyncio.gather(*writers)
    return (
        f"INSERT median {steady * 1000:.1f} ms; "
        f"longest INSERT on a survivor after SIGKILL {longest(inserts, killed, restarted):.2f} s; "
        f"node 2 restart to Synced {synced - restarted:.2f} s; "
        f"longest INSERT on a survivor meanwhile {longest(inserts, restarted, synced):.2f} s"
    )


async def on_server(port: int, *statements: str) -> None:
    connection = await asyncmy.connect(host="127.0.0.1", port=port, user="root", autocommit=True)
    try:
        async with connection.cursor() as cursor:
            for statement in statements:
                await cursor.execute(statement)
    finally:
        connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", default="/tmp/chatservice-galera")
    parser.add_argument("--base-port", type=int, default=13306)
    arguments = parser.parse_args()
    options = ["--dir", arguments.dir, "--base-port", str(arguments.base_port)]
    ports = [arguments.base_port + node for node in range(3)]
    cluster("start", options=options)
    asyncio.run(
        on_server(
            ports[0],
            f"CREATE DATABASE {DATABASE}",
            f"CREATE TABLE {DATABASE}.timing (id BIGINT AUTO_INCREMENT PRIMARY KEY, "
            "node INT NOT NULL)",
        )
    )
    try:
        for number in range(1, arguments.rounds + 1):
            print(f"round {number}: {asyncio.run(one_round(ports, options))}", flush=True)
    finally:
        asyncio.run(on_server(ports[0], f"DROP DATABASE {DATABASE}"))


if __name__ == "__main__":
    main()
