"""Retention as configured: what a prune deletes, what it keeps, and a dry run's count; a
sweeper that outlives a failed sweep."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from chatservice.adapters.memory_leases import InMemoryLeases
from chatservice.adapters.memory_repository.repository import InMemoryChatRepository
from chatservice.adapters.memory_whatsapp_directory import InMemoryWhatsAppDirectory
from chatservice.application.retention import (
    PruneExpiredData,
    PruneReport,
    RetentionPolicy,
    RetentionSweeper,
)
from chatservice.domain.errors import ConcurrentUpdate
from support.chat_records import T0, new_chat, new_user

NOW = T0 + timedelta(days=100)


class RecordingObserver:
    def __init__(self) -> None:
        self.reports: list[PruneReport] = []

    def pruned(self, report: PruneReport) -> None:
        self.reports.append(report)


async def _prune(chat_days: int, dry_run: bool) -> tuple[PruneReport, int, RecordingObserver]:
    repository, directory = InMemoryChatRepository(), InMemoryWhatsAppDirectory()
    for days_ago in (10, 40, 50, 60):
        await repository.add_chat(new_chat(new_user(), updated_at=NOW - timedelta(days=days_ago)))
    await directory.take_message("SM1", "whatsapp:+1", NOW - timedelta(days=8))
    observer = RecordingObserver()
    prune = PruneExpiredData(
        repository, directory, RetentionPolicy(chat_days, 7, 2), observer, clock=lambda: NOW
    )
    report = await prune(dry_run=dry_run)
    left = await repository.count_chats_updated_before(NOW, NOW)
    return report, left, observer


async def test_chats_older_than_retention_and_old_whatsapp_records_are_deleted() -> None:
    report, left, observer = await _prune(30, dry_run=False)
    assert report == PruneReport(3, 1)
    assert left == 1
    assert observer.reports == [report]


async def test_a_dry_run_counts_and_deletes_nothing() -> None:
    report, left, observer = await _prune(30, dry_run=True)
    assert report == PruneReport(3, 1)
    assert left == 4
    assert observer.reports == []


async def test_retention_of_zero_days_keeps_every_chat() -> None:
    report, left, _ = await _prune(0, dry_run=False)
    assert report == PruneReport(0, 1)
    assert left == 4


class ConflictingOnce(InMemoryChatRepository):
    """Its first retention batch loses to concurrent writes; `swept_again` is set at the next."""

    def __init__(self) -> None:
        super().__init__()
        self.batches = 0
        self.swept_again = asyncio.Event()

    async def delete_chats_updated_before(self, before: datetime, now: datetime, limit: int) -> int:
        self.batches += 1
        if self.batches == 1:
            raise ConcurrentUpdate("some-chat")
        self.swept_again.set()
        return await super().delete_chats_updated_before(before, now, limit)


async def test_a_sweep_that_loses_to_concurrent_writes_leaves_the_sweeper_running() -> None:
    repository = ConflictingOnce()
    prune = PruneExpiredData(
        repository,
        InMemoryWhatsAppDirectory(),
        RetentionPolicy(30, 7, 2),
        RecordingObserver(),
        clock=lambda: NOW,
    )
    sweeper = RetentionSweeper(prune, InMemoryLeases(), interval_seconds=0.0, clock=lambda: NOW)
    running = asyncio.create_task(sweeper.run())
    swept_again = asyncio.create_task(repository.swept_again.wait())
    try:
        await asyncio.wait({running, swept_again}, return_when=asyncio.FIRST_COMPLETED)
        assert not running.done(), "the sweeper stopped at the failed sweep"
        assert repository.swept_again.is_set()
    finally:
        for task in (running, swept_again):
            task.cancel()
        await asyncio.gather(running, swept_again, return_exceptions=True)
