"""One worker of `chatservice serve --workers N`, started by its supervisor (`workers.py`):

    python -m chatservice.entrypoints.worker --http-fd=H --grpc-fd=G --ready-fd=R

It serves HTTP and gRPC on the listening sockets it inherited as file descriptors H and G, on
the settings its supervisor writes to its stdin as one JSON line, and writes one byte to R once
it serves. The end of its stdin is the end of its supervisor, however it ended: the worker then
drains and exits as on SIGTERM, so that no worker outlives a supervisor killed with SIGKILL.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import sys
from collections.abc import Sequence

from chatservice.entrypoints.container import build_container
from chatservice.entrypoints.logs import configure_logging
from chatservice.entrypoints.server import Listeners, serve_until_stopped
from chatservice.entrypoints.settings import Settings


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="chatservice-worker", description=__doc__)
    for name in ("--http-fd", "--grpc-fd", "--ready-fd"):
        parser.add_argument(name, type=int, required=True)
    args = parser.parse_args(argv)
    settings = Settings.model_validate_json(sys.stdin.buffer.readline())
    configure_logging(settings.log_level, settings.log_format, with_pid=True)
    listeners = Listeners(
        http=socket.socket(fileno=args.http_fd), grpc=socket.socket(fileno=args.grpc_fd)
    )

    def ready() -> None:
        os.write(args.ready_fd, b"+")
        os.close(args.ready_fd)
        _stop_when_the_supervisor_ends()

    serve_until_stopped(build_container(settings), ready, listeners)
    return 0


def _stop_when_the_supervisor_ends() -> None:
    loop = asyncio.get_running_loop()
    stdin = sys.stdin.fileno()

    def on_stdin() -> None:
        if not os.read(stdin, 4096):  # the supervisor's end of the pipe closed
            loop.remove_reader(stdin)
            os.kill(os.getpid(), signal.SIGTERM)

    loop.add_reader(stdin, on_stdin)


if __name__ == "__main__":
    sys.exit(main())
