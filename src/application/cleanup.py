"""Cleanup that must finish even while its caller is being cancelled."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any


async def despite_cancellation(
    cleanup: Coroutine[Any, Any, None], running: set[asyncio.Task[None]]
) -> None:
    """Run `cleanup` to the end even when the calling task is being cancelled.

    The cleanup runs in its own task (kept in `running` so it is not collected mid-way) and is
    shielded: a second cancellation only stops the wait, never the cleanup.
    """
    task = asyncio.ensure_future(cleanup)
    running.add(task)
    task.add_done_callback(running.discard)
    await asyncio.shield(task)
