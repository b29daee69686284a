"""`chatservice serve`: HTTP (uvicorn) and gRPC (grpclib) in one event loop, one shutdown path.

One process serves on ports it binds itself; a worker (`workers.py`) serves on the sockets its
supervisor bound and handed down, the same way.

The process, not either server, owns SIGTERM and SIGINT. On either signal both servers stop taking
new work at once; requests and calls in flight get `shutdown_grace_seconds` to finish, then the
rest are cancelled, which cancels their turns cleanly (claims released, nothing half-written).
Then the tasks the service owns (WhatsApp turns, and the cleanups cancelled turns leave behind)
get the same grace period before the engine goes away.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
from collections.abc import Callable
from dataclasses import dataclass

import uvicorn

from chatservice.entrypoints.container import Container, close_resources
from chatservice.entrypoints.grpc.server import create_grpc_server
from chatservice.entrypoints.http.app import create_app
from chatservice.entrypoints.uvicorn_server import UvicornServerWithoutSignalHandlers

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Listeners:
    """Listening sockets bound by someone else (a worker's supervisor)."""

    http: socket.socket
    grpc: socket.socket


def announce(host: str, http_port: int, grpc_port: int, generated_token: str | None) -> None:
    """Say where the service listens (and the token it made up), once it does."""
    base = f"http://{host}:{http_port}"
    print(f"chatservice: gRPC on {host}:{grpc_port}", flush=True)
    print(f"chatservice: HTTP on {base} (web chat {base}/, API docs {base}/schema)", flush=True)
    if generated_token:
        print(f"chatservice: no tokens configured; use this one: {generated_token}", flush=True)


def serve_until_stopped(
    container: Container,
    ready: Callable[[], None],
    listeners: Listeners | None = None,
) -> None:
    """Run `run_server` on uvloop, or on asyncio's own loop where uvloop is not installed
    (Windows, which uvloop does not support)."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(run_server(container, ready, listeners))
    else:
        uvloop.run(run_server(container, ready, listeners))


async def run_server(
    container: Container,
    ready: Callable[[], None],
    listeners: Listeners | None = None,
) -> None:
    """Serve HTTP and gRPC, on the settings' host and ports or on `listeners`; call `ready` once
    both take requests; return once SIGTERM or SIGINT has drained them."""
    settings = container.settings()
    grace = settings.shutdown_grace_seconds
    # The providers' clients are made (their SDKs imported) before the servers take requests, not
    # by the first turn; not in a supervisor, which only checks the configuration.
    container.gateways()
    http = UvicornServerWithoutSignalHandlers(
        uvicorn.Config(
            create_app(container),
            host=settings.host,
            port=settings.http_port,
            log_level="warning",
            timeout_graceful_shutdown=max(1, round(grace)),
        )
    )
    grpc, gate = create_grpc_server(container)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    if listeners is None:
        await grpc.start(settings.host, settings.grpc_port)
        http_task = asyncio.create_task(http.serve())
    else:
        await grpc.start(sock=listeners.grpc)
        http_task = asyncio.create_task(http.serve(sockets=[listeners.http]))
    while not http.started and not http_task.done():  # noqa: ASYNC110 - uvicorn offers no event
        await asyncio.sleep(0.01)
    # Retention (docs/operations.md): every replica runs the sweeper, the database's lease lets
    # one of them sweep at a time.
    sweeper = asyncio.create_task(container.retention_sweeper().run())
    if http.started:
        ready()
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({http_task, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
    log.info("shutting down: finishing requests in flight (up to %s s)", grace)
    http.should_exit = True
    try:
        await asyncio.gather(http_task, gate.drain(grace))
    finally:
        sweeper.cancel()
        await asyncio.gather(sweeper, return_exceptions=True)
        grpc.close()  # cancels the calls still running after the grace period
        await grpc.wait_closed()
        # The tasks the service owns (WhatsApp turns answered through Twilio's API, the claims
        # that cancelled turns release) get their own grace period once no request can start
        # more of them, and reach the database before the engine goes away.
        await container.background_work().drain(grace)
        await close_resources(container)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
