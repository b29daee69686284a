"""How long after a client hangs up is the model call cancelled and the chat free again?

Runs the real app behind uvicorn in this process, on SQLite and on MariaDB, with the fake model
streaming slowly. For each hang-up (SSE and JSON routes) it measures, from the moment the client
closed its connection: the fake model's stream being closed, and the chat's claim being released
in the database. Usage: `python bench/cancellation.py [--rounds N] [--mysql-url URL]`.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import socket
import statistics
import tempfile
import time

import httpx
import sqlalchemy as sa
import uvicorn

from chatservice.adapters.fake_gateway import FakeChatGateway
from chatservice.adapters.sqlalchemy.migrations import AlembicMigrations
from chatservice.entrypoints.container import build_container
from chatservice.entrypoints.http.app import create_app
from chatservice.entrypoints.settings import Settings

TOKEN = "bench-token"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def until(condition: object, started: float, limit: float = 5.0) -> float:
    while not await condition():  # type: ignore[operator]
        if time.perf_counter() - started > limit:
            raise TimeoutError("not within 5 s")
        await asyncio.sleep(0.0005)
    return (time.perf_counter() - started) * 1000


async def hang_up(base: str, path: str, route: str) -> float:
    """Start a turn, hang up once it is under way; return the moment of the hang-up."""
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": TOKEN}) as client:
        if route == "sse":
            headers = {"Accept": "text/event-stream"}
            body = {"content": "hi"}
            async with client.stream("POST", path, json=body, headers=headers) as response:
                async for line in response.aiter_lines():
                    if line.startswith("data:"):
                        break
        else:
            task = asyncio.create_task(client.post(path, json={"content": "hi"}))
            await asyncio.sleep(0.2)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    return time.perf_counter()


async def measure(url: str, rounds: int) -> dict[str, list[float]]:
    settings = Settings(
        database_url=url, auth_tokens=(TOKEN,), http_port=free_port(), fake_chunk_delay_ms=50
    )
    container = build_container(settings)
    server = uvicorn.Server(
        uvicorn.Config(create_app(container), port=settings.http_port, log_level="warning")
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event
        await asyncio.sleep(0.01)
    fake = container.gateway()
    assert isinstance(fake, FakeChatGateway)
    results: dict[str, list[float]] = {}
    base = f"http://127.0.0.1:{settings.http_port}"
    try:
        async with httpx.AsyncClient(base_url=base, headers={"Authorization": TOKEN}) as http:
            chat_id = (await http.post("/v1/users/bench/chats", json={})).json()["id"]
            path = f"/v1/users/bench/chats/{chat_id}/messages"

            async def claim_released() -> bool:
                async with container.engine().connect() as connection:
                    held = await connection.scalar(
                        sa.text("SELECT claim_request_id FROM chats WHERE id = :id"),
                        {"id": chat_id.encode() if "sqlite" not in url else chat_id},
                    )
                return held is None

            for route in ("sse", "json"):
                for _ in range(rounds):
                    abandoned = fake.abandoned
                    hung_up = await hang_up(base, path, route)

                    async def model_cancelled(before: int = abandoned) -> bool:
                        return fake.abandoned > before

                    results.setdefault(f"{route}: model call cancelled", []).append(
                        await until(model_cancelled, hung_up)
                    )
                    results.setdefault(f"{route}: claim released", []).append(
                        await until(claim_released, hung_up)
                    )
    finally:
        server.should_exit = True
        await serving
        await container.engine().dispose()
    return results


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--mysql-url", default="mysql+asyncmy://root@127.0.0.1:3306")
    args = parser.parse_args()
    sqlite_url = f"sqlite+aiosqlite:///{tempfile.mkdtemp()}/bench.db"
    await asyncio.to_thread(AlembicMigrations(sqlite_url).upgrade_to_head)
    name = f"chatservice_bench_{secrets.token_hex(4)}"
    server = sa.ext.asyncio.create_async_engine(args.mysql_url)
    async with server.begin() as connection:
        await connection.execute(sa.text(f"CREATE DATABASE {name}"))
    mysql_url = f"{args.mysql_url}/{name}"
    try:
        await asyncio.to_thread(AlembicMigrations(mysql_url).upgrade_to_head)
        print("| database | what | median ms | max ms | rounds |\n|---|---|---|---|---|")
        for label, url in (("SQLite", sqlite_url), ("MariaDB", mysql_url)):
            for what, samples in (await measure(url, args.rounds)).items():
                print(
                    f"| {label} | {what} | {statistics.median(samples):.1f} | "
                    f"{max(samples):.1f} | {len(samples)} |"
                )
    finally:
        async with server.begin() as connection:
            await connection.execute(sa.text(f"DROP DATABASE {name}"))
        await server.dispose()


if __name__ == "__main__":
    asyncio.run(main())
