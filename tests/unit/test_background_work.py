"""Cleanups under cancellation: they run to their end, and shutdown's drain waits for them."""

from __future__ import annotations

import asyncio
import logging

import pytest

from chatservice.application.background import BackgroundWork


class Cleanup:
    """A cleanup that starts, then waits for `finish` before it ends (or fails)."""

    def __init__(self, error: Exception | None = None) -> None:
        self.started = asyncio.Event()
        self.finish = asyncio.Event()
        self.done = False
        self._error = error

    async def __call__(self) -> None:
        self.started.set()
        await self.finish.wait()
        if self._error is not None:
            raise self._error
        self.done = True


async def cancelled_mid_cleanup(work: BackgroundWork, cleanup: Cleanup) -> None:
    caller = asyncio.create_task(work.despite_cancellation(cleanup()))
    await cleanup.started.wait()
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller


async def test_a_cleanup_outlives_its_cancelled_caller_and_drain_waits_for_it() -> None:
    work, cleanup = BackgroundWork(), Cleanup()
    await cancelled_mid_cleanup(work, cleanup)
    assert work.running == 1 and not cleanup.done

    cleanup.finish.set()
    await work.drain(grace_seconds=5)

    assert cleanup.done
    assert work.running == 0


async def test_a_failed_cleanup_is_raised_to_a_caller_still_waiting() -> None:
    work, cleanup = BackgroundWork(), Cleanup(RuntimeError("store down"))
    cleanup.finish.set()
    with pytest.raises(RuntimeError, match="store down"):
        await work.despite_cancellation(cleanup())
    assert work.running == 0


async def test_a_failed_cleanup_nobody_waits_for_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    work, cleanup = BackgroundWork(), Cleanup(RuntimeError("store down"))
    await cancelled_mid_cleanup(work, cleanup)

    cleanup.finish.set()
    await work.drain(grace_seconds=5)

    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.exc_info is not None and str(record.exc_info[1]) == "store down"
