"""Which process serves what: the workers of `serve --workers N`, seen from /proc (Linux).

A worker is a child process of the supervisor. Which worker serves a connection is read from the
kernel's own tables: the server side of the TCP connection (from /proc/net/tcp*) is a socket
that exactly one process holds open (its /proc/PID/fd). Nothing in the service has to report
its pid for a test to see it.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import httpx

from support.waiting import eventually

_ESTABLISHED = "01"


def child_pids(parent: int) -> set[int]:
    """The running children of process `parent`."""
    children = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # it ended while we looked
            continue
        # "pid (command) state ppid …"; the command may itself hold spaces and parentheses.
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == parent and state != "Z":
            children.add(int(entry.name))
    return children


def _socket_inodes(pid: int) -> set[int]:
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(int(target[8:-1]))
    except OSError:  # the process ended
        pass
    return inodes


def _accepted(server_port: int) -> dict[int, int]:
    """The connections to `server_port` a process has accepted: their server side's inode, by
    the client's port."""
    accepted = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, remote, state, inode = fields[1], fields[2], fields[3], int(fields[9])
            # A connection still waiting in the listening socket's queue has no inode yet.
            if state == _ESTABLISHED and int(local.rsplit(":", 1)[1], 16) == server_port and inode:
                accepted[int(remote.rsplit(":", 1)[1], 16)] = inode
    return accepted


def connections_held(pid: int, server_port: int) -> int:
    """How many connections to `server_port` process `pid` has accepted and holds open."""
    return len(set(_accepted(server_port).values()) & _socket_inodes(pid))


def serving_pid(response: httpx.Response, candidates: Iterable[int]) -> int | None:
    """Which of `candidates` holds the server side of the connection `response` came over."""
    stream = response.extensions["network_stream"]
    client_port = stream.get_extra_info("client_addr")[1]
    server_port = stream.get_extra_info("server_addr")[1]
    inode = _accepted(server_port).get(client_port)
    if inode is None:
        return None
    return next((pid for pid in candidates if inode in _socket_inodes(pid)), None)


@asynccontextmanager
async def client_on_each_worker(
    base_url: str, workers: set[int], headers: dict[str, str]
) -> AsyncIterator[dict[int, httpx.AsyncClient]]:
    """An HTTP client for each worker, each holding one kept-alive connection that worker
    accepted: new connections are opened (and the others closed) until every worker has one.
    The kernel picks the worker of each connection, so this is a wait on a condition."""
    async with AsyncExitStack() as stack:
        found: dict[int, httpx.AsyncClient] = {}

        async def one_more() -> bool:
            client = httpx.AsyncClient(
                base_url=base_url,
                headers=headers,
                timeout=30,
                limits=httpx.Limits(max_connections=1),
            )
            response = await client.get("/healthz")
            pid = serving_pid(response, workers)
            if pid is None or pid in found:
                await client.aclose()
            else:
                stack.push_async_callback(client.aclose)
                found[pid] = client
            return set(found) == workers

        await eventually(one_more, f"a connection accepted by each of the workers {workers}")
        yield found
