"""The HTTP app on a real database, driven in-process, with a view of what is stored."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from dependency_injector import providers

from chatservice.application.clock import Clock, utc_now
from chatservice.entrypoints.container import Container, build_container
from chatservice.entrypoints.http.app import create_app
from chatservice.entrypoints.settings import Settings
from support.databases import StoredRows, rows_of
from support.process import free_port
from support.serving import serving
from support.waiting import GENEROUS_SECONDS

TOKEN = "test-token-1"
ROTATED_TOKEN = "test-token-2"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@dataclass
class Api:
    client: httpx.AsyncClient
    container: Container

    async def snapshot(self, *user_ids: str) -> StoredRows:
        """These users' stored rows, to show that a refused request changed nothing."""
        return await rows_of(self.container.engine(), user_ids)

    async def new_chat(self, user_id: str, **body: Any) -> dict[str, Any]:
        response = await self.client.post(f"/v1/users/{user_id}/chats", json=body, headers=AUTH)
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]

    async def say(self, user_id: str, chat_id: str, content: str) -> dict[str, Any]:
        response = await self.client.post(
            f"/v1/users/{user_id}/chats/{chat_id}/messages", json={"content": content}, headers=AUTH
        )
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]


ApiFactory = Callable[..., AbstractAsyncContextManager[Api]]


def api_factory(database_url: str) -> ApiFactory:
    @asynccontextmanager
    async def open_api(clock: Clock = utc_now, **overrides: Any) -> AsyncIterator[Api]:
        """The app on `settings` with these `overrides`, its use cases on `clock`."""
        settings = Settings(
            database_url=database_url, auth_tokens=(TOKEN, ROTATED_TOKEN), **overrides
        )
        container = build_container(settings, clock=providers.Object(clock))
        try:
            # In the test's own event loop (Litestar's AsyncTestClient runs the app in another
            # one, which asyncmy's connections do not survive).
            transport = httpx.ASGITransport(app=create_app(container))
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                yield Api(client, container)
        finally:
            await container.engine().dispose()

    return open_api


@dataclass
class LiveApi:
    """The app behind a real uvicorn server in the test's event loop: real HTTP, real SSE."""

    url: str
    container: Container
    snapshot: Callable[..., Awaitable[StoredRows]]

    def client(self, **kwargs: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, headers=AUTH, timeout=30, **kwargs)


LiveApiFactory = Callable[..., AbstractAsyncContextManager[LiveApi]]


def live_api_factory(database_url: str) -> LiveApiFactory:
    @asynccontextmanager
    async def open_live_api(**overrides: Any) -> AsyncIterator[LiveApi]:
        settings = Settings(
            database_url=database_url,
            auth_tokens=(TOKEN, ROTATED_TOKEN),
            http_port=free_port(),
            **overrides,
        )
        container = build_container(settings)
        try:
            async with serving(create_app(container), settings.http_port):
                api = Api(httpx.AsyncClient(), container)
                yield LiveApi(f"http://127.0.0.1:{settings.http_port}", container, api.snapshot)
        finally:
            await container.engine().dispose()

    return open_live_api


@contextmanager
def served_in_a_thread(database_url: str, **overrides: Any) -> Iterator[str]:
    """The app behind a real uvicorn server whose event loop runs in a thread of its own, for
    synchronous clients (schemathesis, hypothesis). Yields the base URL.

    Every database connection is made and closed in that one loop, which asyncmy requires.
    """
    settings = Settings(
        database_url=database_url,
        auth_tokens=(TOKEN, ROTATED_TOKEN),
        http_port=free_port(),
        **overrides,
    )
    container = build_container(settings)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(container), host="127.0.0.1", port=settings.http_port, log_level="warning"
        )
    )

    async def serve() -> None:
        try:
            await server.serve()
        finally:
            await container.engine().dispose()

    failure: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(serve())
        except BaseException as error:  # reported by the test thread below
            failure.append(error)

    thread = threading.Thread(target=run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + GENEROUS_SECONDS
    while not server.started:
        if failure or not thread.is_alive() or time.monotonic() > deadline:
            raise AssertionError(f"uvicorn did not start: {failure!r}")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{settings.http_port}"
    finally:
        server.should_exit = True
        thread.join(timeout=GENEROUS_SECONDS)
        assert not failure, failure


@dataclass
class SseEvent:
    event: str
    data: Any


async def read_sse(response: httpx.Response) -> AsyncIterator[SseEvent | str]:
    """Parse a Server-Sent Events body as it arrives: events, and comments as plain strings."""
    event, data = "message", []
    async for line in response.aiter_lines():
        if line.startswith(":"):
            yield line[1:].strip()
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
        elif line == "" and data:
            yield SseEvent(event, json.loads("\n".join(data)))
            event, data = "message", []


def unique_user(name: str, request: pytest.FixtureRequest) -> str:
    """A user id unique to this test, so tests sharing a database never see each other."""
    return f"{name}-{zlib.crc32(request.node.nodeid.encode())}"
