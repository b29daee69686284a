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
from openai import AsyncOpenAI

from chatservice.application.clock import Clock, utc_now
from chatservice.entrypoints.container import Container, close_resources
from chatservice.entrypoints.http.app import create_app
from support.containers import closed_after, service_container
from support.databases import StoredRows, rows_of
from support.process import free_port
from support.serving import serving
from support.waiting import GENEROUS_SECONDS

TOKEN = "test-token-1"
ROTATED_TOKEN = "test-token-2"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
#: The tokens every HTTP and gRPC test's service accepts (two: rotation).
TOKENS = (TOKEN, ROTATED_TOKEN)


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
    async def open_api(clock: Clock = utc_now, **settings: Any) -> AsyncIterator[Api]:
        """The app on these `settings`, its use cases on `clock`."""
        container = service_container(
            {"clock": providers.Object(clock)},
            database_url=database_url,
            auth_tokens=TOKENS,
            **settings,
        )
        async with closed_after(container):
            # In the test's own event loop (Litestar's AsyncTestClient runs the app in another
            # one, which asyncmy's connections do not survive).
            transport = httpx.ASGITransport(app=create_app(container))
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                yield Api(client, container)

    return open_api


@dataclass
class LiveApi:
    """The app behind a real uvicorn server in the test's event loop: real HTTP, real SSE."""

    url: str
    container: Container
    snapshot: Callable[..., Awaitable[StoredRows]]

    def client(self, **kwargs: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, headers=AUTH, timeout=30, **kwargs)

    @asynccontextmanager
    async def turn_streaming(
        self, user_id: str, chat_id: str, content: str
    ) -> AsyncIterator[AsyncIterator[SseEvent | str]]:
        """A turn another client runs on the chat, as SSE, for the block: started (its first
        event read) on entry, so the chat is busy; the caller may read the rest of its events.
        Leaving the block closes the stream, which cancels the turn if it has not ended."""
        async with (
            self.client() as http,
            http.stream(
                "POST",
                f"/v1/users/{user_id}/chats/{chat_id}/messages",
                json={"content": content},
                headers={"Accept": "text/event-stream"},
            ) as response,
        ):
            assert response.status_code == 200
            # Kept in a variable: a collected generator would close the stream, ending the turn.
            events = read_sse(response)
            await anext(events)
            yield events


LiveApiFactory = Callable[..., AbstractAsyncContextManager[LiveApi]]


def live_api_factory(database_url: str) -> LiveApiFactory:
    @asynccontextmanager
    async def open_live_api(clock: Clock = utc_now, **settings: Any) -> AsyncIterator[LiveApi]:
        """The app on these `settings`, its use cases on `clock`, behind a real server."""
        port = free_port()
        container = service_container(
            {"clock": providers.Object(clock)},
            database_url=database_url,
            auth_tokens=TOKENS,
            http_port=port,
            **settings,
        )
        async with closed_after(container), serving(create_app(container), port):
            api = Api(httpx.AsyncClient(), container)
            yield LiveApi(f"http://127.0.0.1:{port}", container, api.snapshot)

    return open_live_api


@contextmanager
def served_in_a_thread(database_url: str, **settings: Any) -> Iterator[str]:
    """The app behind a real uvicorn server whose event loop runs in a thread of its own, for
    synchronous clients (schemathesis, hypothesis). Yields the base URL.

    Every database connection is made and closed in that one loop, which asyncmy requires.
    """
    port = free_port()
    container = service_container(
        database_url=database_url, auth_tokens=TOKENS, http_port=port, **settings
    )
    server = uvicorn.Server(
        uvicorn.Config(create_app(container), host="127.0.0.1", port=port, log_level="warning")
    )

    async def serve() -> None:
        try:
            await server.serve()
        finally:
            await close_resources(container)

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
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=GENEROUS_SECONDS)
        assert not failure, failure


@dataclass
class SseEvent:
    event: str
    data: Any
    #: The event's `id:` line, when it has one.
    id: str | None = None


async def read_sse(response: httpx.Response) -> AsyncIterator[SseEvent | str]:
    """Parse a Server-Sent Events body as it arrives: events, and comments as plain strings."""
    event, data, event_id = "message", [], None
    async for line in response.aiter_lines():
        if line.startswith(":"):
            yield line[1:].strip()
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("id:"):
            event_id = line[3:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
        elif line == "" and data:
            yield SseEvent(event, json.loads("\n".join(data)), event_id)
            event, data, event_id = "message", [], None


def unique_user(name: str, request: pytest.FixtureRequest) -> str:
    """A user id unique to this test, so tests sharing a database never see each other."""
    return f"{name}-{zlib.crc32(request.node.nodeid.encode())}"


@asynccontextmanager
async def sdk_client(live: LiveApi, user_id: str) -> AsyncIterator[AsyncOpenAI]:
    """The SDK pointed at the service, as docs/api.md tells a user to build it."""
    client = AsyncOpenAI(
        api_key=TOKEN,
        base_url=f"{live.url}/openai/v1",
        default_headers={"X-Chatservice-User": user_id},
        max_retries=0,
    )
    async with client:
        yield client
