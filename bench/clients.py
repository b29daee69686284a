"""Load clients light enough not to hide the server's cost: a raw HTTP/1.1 keep-alive client
(JSON turns and SSE streams) and grpclib for gRPC."""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from grpclib.client import Channel
from grpclib.events import SendRequest, listen

from chatservice.entrypoints.grpc.generated import chatservice_v1_grpc
from chatservice.entrypoints.grpc.generated import chatservice_v1_pb2 as pb


@dataclass
class Latencies:
    seconds: list[float] = field(default_factory=list)
    elapsed: float = 0.0
    errors: int = 0

    def percentile(self, p: float) -> float:
        ordered = sorted(self.seconds)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000

    def add(self, other: Latencies) -> None:
        """Pool another run's samples into these (rates add up as turns over time)."""
        self.seconds += other.seconds
        self.elapsed += other.elapsed
        self.errors += other.errors

    @property
    def rate(self) -> float:
        return len(self.seconds) / self.elapsed if self.elapsed else 0.0

    @property
    def p50(self) -> float:
        return statistics.median(self.seconds) * 1000


class RawHttp:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, host: str, port: int, token: str) -> None:
        self._address = (host, port)
        self._token = token
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._reader is None or self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(*self._address)
        return self._reader, self._writer

    async def post(self, path: str, body: dict[str, object], accept: str = "application/json"
                   ) -> tuple[int, bytes]:  # fmt: skip
        reader, writer = await self._connect()
        payload = json.dumps(body).encode()
        writer.write(
            f"POST {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: {self._token}\r\n"
            f"Content-Type: application/json\r\nAccept: {accept}\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n".encode()
            + payload
        )
        await writer.drain()
        status_line = await reader.readline()
        headers: dict[str, str] = {}
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            return int(status_line.split()[1]), await reader.readexactly(
                int(headers["content-length"])
            )
        chunks = []
        while True:  # chunked
            size = int((await reader.readline()).strip(), 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            chunks.append(chunk[:-2])
        return int(status_line.split()[1]), b"".join(chunks)

    async def stream_first_byte(self, path: str, body: dict[str, object]) -> tuple[float, float]:
        """POST with SSE; return (seconds to the first delta, seconds to the end)."""
        reader, writer = await self._connect()
        payload = json.dumps(body).encode()
        started = time.perf_counter()
        writer.write(
            f"POST {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: {self._token}\r\n"
            f"Content-Type: application/json\r\nAccept: text/event-stream\r\n"
            f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode()
            + payload
        )
        await writer.drain()
        first = None
        while line := await reader.readline():
            if first is None and line.startswith(b"event: delta"):
                first = time.perf_counter() - started
            if line.startswith(b"event: done") or line.startswith(b"event: error"):
                break
        total = time.perf_counter() - started
        # Read on to the server's close (the request said `Connection: close`): closing with the
        # chunked body's last bytes unread would answer them with a TCP reset (docs/benchmarks.md).
        while await reader.read(4096):
            pass
        writer.close()
        self._reader = self._writer = None
        return (first if first is not None else float("nan")), total

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


async def run_load(
    connections: int, requests_per_connection: int, one: Callable[[int, int], Awaitable[bool]]
) -> Latencies:
    """`one(connection, i)` makes one request and says whether it succeeded."""
    result = Latencies()

    async def worker(connection: int) -> None:
        for i in range(requests_per_connection):
            started = time.perf_counter()
            ok = await one(connection, i)
            if ok:
                result.seconds.append(time.perf_counter() - started)
            else:
                result.errors += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in range(connections)))
    result.elapsed = time.perf_counter() - started
    return result


def grpc_stub(port: int, token: str) -> tuple[Channel, chatservice_v1_grpc.ChatServiceStub]:
    channel = Channel("127.0.0.1", port)

    async def authorize(event: SendRequest) -> None:
        event.metadata["authorization"] = token

    listen(channel, SendRequest, authorize)
    return channel, chatservice_v1_grpc.ChatServiceStub(channel)


async def grpc_turn(stub: chatservice_v1_grpc.ChatServiceStub, user: str, chat_id: str,
                    content: str) -> bool:  # fmt: skip
    events = await stub.SendMessage(
        pb.SendMessageRequest(user_id=user, chat_id=chat_id, content=content)
    )
    return bool(events) and events[-1].WhichOneof("event") == "completed"
