"""Retention as configured: what a prune deletes, what it keeps, and a dry run's count."""

from __future__ import annotations

from datetime import timedelta

from chatservice.adapters.memory_repository import InMemoryChatRepository
from chatservice.adapters.memory_whatsapp_directory import InMemoryWhatsAppDirectory
from chatservice.application.retention import PruneExpiredData, PruneReport, RetentionPolicy
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
