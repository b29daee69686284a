"""The test Redis: where it is, and keys of a test's own that are removed after it.

Tests never flush the whole Redis (other tests, or other work on the machine, may use it): each
test's keys live under a prefix of its own, deleted when it ends.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from urllib.parse import urlsplit

import coredis

REDIS_URL = os.environ.get("CHATSERVICE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def redis_answers(url: str = REDIS_URL) -> str | None:
    """None when the Redis at `url` (redis://host:port/…) answers PING; else what went wrong.
    A plain socket, so that a fixture can ask inside or outside an event loop."""
    location = urlsplit(url)
    try:
        with socket.create_connection(
            (location.hostname or "127.0.0.1", location.port or 6379), timeout=5
        ) as connection:
            connection.sendall(b"PING\r\n")
            reply = connection.recv(64)
    except OSError as error:
        return f"{type(error).__name__}: {error}"
    return None if reply.startswith(b"+PONG") else f"it answered {reply!r} to PING"


@asynccontextmanager
async def own_key_prefix(url: str = REDIS_URL) -> AsyncIterator[str]:
    """A key prefix no other test uses; its keys are deleted when the block ends."""
    prefix = f"chatservice-test-{secrets.token_hex(6)}"
    try:
        yield prefix
    finally:
        client = coredis.Redis.from_url(url)
        try:
            keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
            if keys:
                await client.delete(keys)
        finally:
            client.connection_pool.disconnect()


@contextmanager
def redis_pool(url: str = REDIS_URL) -> Iterator[coredis.ConnectionPool]:
    """A connection pool to the Redis at `url`, with a one-second bound on every answer (as the
    service's own), disconnected when the block ends."""
    pool = coredis.ConnectionPool.from_url(url, connect_timeout=1, stream_timeout=1)
    try:
        yield pool
    finally:
        pool.disconnect()
