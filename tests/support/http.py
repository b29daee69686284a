"""The HTTP app on a real database, driven in-process, with a view of what is stored."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import sqlalchemy as sa

from chatservice.entrypoints.container import Container, build_container
from chatservice.entrypoints.http.app import create_app
from chatservice.entrypoints.settings import Settings

TOKEN = "test-token-1"
ROTATED_TOKEN = "test-token-2"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@dataclass
class Api:
    client: httpx.AsyncClient
    container: Container

    async def snapshot(self) -> tuple[list[Any], list[Any]]:
        """Every stored row, to show that a refused request changed nothing."""
        async with self.container.engine().connect() as connection:
            chats = (await connection.execute(sa.text("SELECT * FROM chats ORDER BY id"))).all()
            messages = (
                await connection.execute(
                    sa.text("SELECT * FROM messages ORDER BY chat_id, position")
                )
            ).all()
        return [tuple(r) for r in chats], [tuple(r) for r in messages]

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
    async def open_api(**overrides: Any) -> AsyncIterator[Api]:
        settings = Settings(
            database_url=database_url, auth_tokens=(TOKEN, ROTATED_TOKEN), **overrides
        )
        container = build_container(settings)
        try:
            # In the test's own event loop (Litestar's AsyncTestClient runs the app in another
            # one, which asyncmy's connections do not survive).
            transport = httpx.ASGITransport(app=create_app(container))
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                yield Api(client, container)
        finally:
            await container.engine().dispose()

    return open_api
