"""The tasks the service owns beyond the code that started them, kept in one place.

Three kinds: work that outlives its request (a WhatsApp answer: Twilio hears back at once, the
reply follows later), cleanup that must finish while its caller is being cancelled (releasing a
turn's claim, deleting a chat whose first turn failed), and a turn an HTTP response runs beside
itself so it can cancel it. Each is kept here until it ends, so none is lost to the garbage
collector; a failure nobody awaits is logged; shutdown drains them all before the engine goes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)


class BackgroundWork:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def running(self) -> int:
        """How many tasks have not ended yet."""
        return len(self._tasks)

    def start(self, work: Coroutine[Any, Any, None], name: str | None = None) -> asyncio.Task[None]:
        """Run `work` in a task of its own, kept until it ends. A failure is logged, not raised."""
        task = self._keep(asyncio.create_task(work, name=name))
        task.add_done_callback(_log_failure)
        return task

    async def despite_cancellation(self, cleanup: Coroutine[Any, Any, None]) -> None:
        """Run `cleanup` to the end even when the calling task is being cancelled.

        The cleanup runs in a task of its own and is shielded: a cancellation only stops the
        wait, never the cleanup. Its failure is raised to the caller, or logged when the caller
        was cancelled and so is no longer there to hear it.
        """
        task = self._keep(asyncio.create_task(cleanup))
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            task.add_done_callback(_log_failure)
            raise

    def _keep(self, task: asyncio.Task[None]) -> asyncio.Task[None]:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def drain(self, grace_seconds: float, cleanup_seconds: float = 10.0) -> None:
        """Let the tasks in flight (and any they start meanwhile) finish for up to
        `grace_seconds`, then cancel what is left and wait up to `cleanup_seconds` for it to
        clean up."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace_seconds
        while self._tasks and (remaining := deadline - loop.time()) > 0:
            await asyncio.wait(set(self._tasks), timeout=remaining)
        left = set(self._tasks)
        if not left:
            return
        log.warning("cancelling %d background task(s) left after the grace period", len(left))
        for task in left:
            task.cancel()
        await asyncio.wait(left, timeout=cleanup_seconds)


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and (error := task.exception()) is not None:
        log.error("background work %s failed", task.get_name(), exc_info=error)
