"""Work that belongs to the service, not to the request that started it.

A WhatsApp turn outlives its webhook request: Twilio hears back at once, the reply follows later.
Such work runs in tasks that nobody cancels when a caller goes away; they are kept here until they
end, so none is lost to the garbage collector and shutdown can wait for them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)


class BackgroundWork:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def running(self) -> int:
        """How many pieces of work have not ended yet."""
        return len(self._tasks)

    def start(self, work: Coroutine[Any, Any, None], name: str | None = None) -> asyncio.Task[None]:
        """Run `work` in a task of its own, kept until it ends. A failure is logged, not raised."""
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._ended)
        return task

    def _ended(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("background work %s failed", task.get_name(), exc_info=error)

    async def drain(self, grace_seconds: float, cleanup_seconds: float = 10.0) -> None:
        """Let the work in flight (and any it starts meanwhile) finish for up to `grace_seconds`,
        then cancel what is left and wait up to `cleanup_seconds` for it to clean up."""
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
