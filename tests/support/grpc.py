"""The gRPC server on a real database and a free local port, in the test's event loop."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from grpclib.client import Channel
from grpclib.events import SendRequest, listen

from chatservice.entrypoints.container import Container
from chatservice.entrypoints.grpc.generated import chat_grpc, chatservice_v1_grpc
from chatservice.entrypoints.grpc.server import create_grpc_server
from chatservice.entrypoints.http.app import create_app
from support.containers import closed_after, service_container
from support.databases import StoredRows
from support.http import TOKEN, TOKENS, Api
from support.process import free_port


def channel_with(port: int, metadata: dict[str, str]) -> Channel:
    """A channel that sends `metadata` with every call."""
    channel = Channel("127.0.0.1", port)

    async def add_metadata(event: SendRequest) -> None:
        event.metadata.update(metadata)

    listen(channel, SendRequest, add_metadata)
    return channel


@dataclass
class LiveGrpc:
    port: int
    container: Container
    channel: Channel
    http: httpx.AsyncClient
    api: Api

    @property
    def v1(self) -> chatservice_v1_grpc.ChatServiceStub:
        return chatservice_v1_grpc.ChatServiceStub(self.channel)

    @property
    def compat(self) -> chat_grpc.ChatServiceStub:
        return chat_grpc.ChatServiceStub(self.channel)

    async def snapshot(self, *user_ids: str) -> StoredRows:
        return await self.api.snapshot(*user_ids)


LiveGrpcFactory = Callable[..., AbstractAsyncContextManager[LiveGrpc]]


def live_grpc_factory(database_url: str) -> LiveGrpcFactory:
    @asynccontextmanager
    async def open_live_grpc(**settings: Any) -> AsyncIterator[LiveGrpc]:
        container = service_container(database_url=database_url, auth_tokens=TOKENS, **settings)
        async with closed_after(container):
            server, _ = create_grpc_server(container)
            port = free_port()
            await server.start("127.0.0.1", port)
            channel = channel_with(port, {"authorization": f"Bearer {TOKEN}"})
            transport = httpx.ASGITransport(app=create_app(container))
            try:
                async with httpx.AsyncClient(
                    transport=transport,
                    base_url="http://test",
                    headers={"Authorization": TOKEN},
                ) as http:
                    yield LiveGrpc(port, container, channel, http, Api(http, container))
            finally:
                channel.close()
                server.close()
                await server.wait_closed()

    return open_live_grpc
