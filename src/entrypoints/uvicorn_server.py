"""A uvicorn server that leaves SIGTERM and SIGINT to the process (`server.py`).

Undocumented API: `uvicorn.Server.capture_signals`, the context manager in which `serve()`
installs uvicorn's own signal handlers, is overridden to install none, since uvicorn's handlers
would stop HTTP alone and leave gRPC running. The process then drives the server through its
`started` and `should_exit` attributes. None of the three is in uvicorn's documented API; a
release that renames them would quietly bring back uvicorn's own signal handling.

Checked against uvicorn 0.54.0. pyproject.toml pins `uvicorn<0.55`; before raising the pin, check
that `Server.serve` still enters `capture_signals` and run tests/e2e/test_shutdown.py.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import uvicorn


class UvicornServerWithoutSignalHandlers(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield
