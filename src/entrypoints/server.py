"""`chatservice serve`: the servers of one process under one shutdown path."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterator

import uvicorn

from chatservice.entrypoints.container import Container
from chatservice.entrypoints.http.app import create_app

log = logging.getLogger(__name__)


class _HttpServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # The process owns SIGTERM/SIGINT (`run_server`), so that every server stops together.
        yield


async def run_server(container: Container, generated_token: str | None = None) -> None:
    settings = container.settings()
    http = _HttpServer(
        uvicorn.Config(
            create_app(container),
            host=settings.host,
            port=settings.http_port,
            log_level="warning",
            timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
        )
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    http_task = asyncio.create_task(http.serve())
    while not http.started and not http_task.done():  # noqa: ASYNC110 - uvicorn offers no event
        await asyncio.sleep(0.01)
    if http.started:
        base = f"http://{settings.host}:{settings.http_port}"
        print(f"chatservice: HTTP on {base} (API docs {base}/schema)", flush=True)
        if generated_token:
            print(f"chatservice: no tokens configured; use this one: {generated_token}", flush=True)
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({http_task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    log.info("shutting down")
    http.should_exit = True
    try:
        await http_task
    finally:
        stopping.cancel()
        await container.engine().dispose()
