"""Deleting in batches: one short transaction a batch, so that no lock is held long."""

from __future__ import annotations

from collections.abc import Awaitable, Callable


async def in_batches(delete_batch: Callable[[int], Awaitable[int]], batch_size: int) -> int:
    """Call `delete_batch(batch_size)` until a batch deletes fewer than `batch_size`, and
    return how many went in all. A short batch means nothing was left (or another replica
    took the rest)."""
    total = 0
    while True:
        deleted = await delete_batch(batch_size)
        total += deleted
        if deleted < batch_size:
            return total
