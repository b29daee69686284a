"""The supervisor of `serve --workers` with workers that fail at start-up
(tests/support/failing_worker.py); tests/e2e/test_workers.py runs it with the real ones."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from chatservice.entrypoints.server import Listeners
from chatservice.entrypoints.settings import Settings
from chatservice.entrypoints.workers import Supervisor, bind

FAILING_WORKER = (sys.executable, str(Path(__file__).parents[1] / "support" / "failing_worker.py"))


@pytest.fixture
def listeners() -> Iterator[Listeners]:
    opened = Listeners(http=bind("127.0.0.1", 0), grpc=bind("127.0.0.1", 0))
    try:
        yield opened
    finally:
        opened.http.close()
        opened.grpc.close()


async def test_a_worker_that_cannot_start_stops_the_supervisor_without_announcing_it(
    listeners: Listeners, caplog: pytest.LogCaptureFixture
) -> None:
    announced: list[None] = []
    failing = Supervisor(Settings(workers=2), listeners, dict(os.environ), command=FAILING_WORKER)
    assert await failing.run(lambda: announced.append(None)) == 1
    assert announced == []
    assert "a worker did not start; stopping the others" in caplog.messages
    assert any("exited (exit code 3)" in message for message in caplog.messages)
