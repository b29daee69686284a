"""Retention: chats not updated for `retention_days` and WhatsApp records older than
`twilio_dedupe_days` are deleted, in batches, by one replica at a time (a lease in the database
says which) or once by `chatservice prune`."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Protocol

from chatservice.application.batches import in_batches
from chatservice.application.clock import Clock, utc_now
from chatservice.application.ports import ChatRepository, Leases, WhatsAppDirectory
from chatservice.domain.errors import ChatServiceError

log = logging.getLogger(__name__)

#: The lease that names the replica sweeping.
SWEEP_LEASE = "retention-sweep"


@dataclass(frozen=True)
class RetentionPolicy:
    """How long data is kept, in days (0: for good), and how much one transaction deletes."""

    chat_days: int
    whatsapp_message_days: int
    batch_size: int


@dataclass(frozen=True)
class PruneReport:
    """What a prune deleted (or, dry, would delete)."""

    chats: int
    whatsapp_messages: int


class PruneObserver(Protocol):
    def pruned(self, report: PruneReport) -> None:
        """A prune (not a dry run) deleted what `report` counts."""


class PruneExpiredData:
    def __init__(
        self,
        repository: ChatRepository,
        directory: WhatsAppDirectory,
        policy: RetentionPolicy,
        observer: PruneObserver,
        clock: Clock = utc_now,
    ) -> None:
        self._repository = repository
        self._directory = directory
        self._policy = policy
        self._observer = observer
        self._clock = clock

    async def __call__(self, dry_run: bool = False) -> PruneReport:
        """Delete, batch by batch, the chats not updated for `chat_days` (none a turn holds)
        and the WhatsApp records older than `whatsapp_message_days`; or, `dry_run`, count
        them. Raises `StorageUnavailable`, or `ConcurrentUpdate` for a batch that kept losing to
        concurrent writes, part-way through: what went is gone."""
        now = self._clock()
        chats_before = _cutoff(now, self._policy.chat_days)
        messages_before = _cutoff(now, self._policy.whatsapp_message_days)
        if dry_run:
            return PruneReport(
                0
                if chats_before is None
                else await self._repository.count_chats_updated_before(chats_before, now),
                0
                if messages_before is None
                else await self._directory.count_messages_before(messages_before),
            )
        chats = messages = 0
        batch_size = self._policy.batch_size
        if chats_before is not None:
            chats = await in_batches(
                partial(self._repository.delete_chats_updated_before, chats_before, now),
                batch_size,
            )
        if messages_before is not None:
            messages = await in_batches(
                partial(self._directory.prune_messages, messages_before), batch_size
            )
        report = PruneReport(chats, messages)
        self._observer.pruned(report)
        return report


def _cutoff(now: datetime, days: int) -> datetime | None:
    return None if days == 0 else now - timedelta(days=days)


class RetentionSweeper:
    """Runs `PruneExpiredData` every `interval_seconds` on whichever replica holds the sweep
    lease. The holder renews it each sweep; it lapses two intervals after the last,
    so another replica takes over from one that died, and only one sweeps at a time."""

    def __init__(
        self,
        prune: PruneExpiredData,
        leases: Leases,
        interval_seconds: float,
        clock: Clock = utc_now,
        holder: str | None = None,
    ) -> None:
        self._prune = prune
        self._leases = leases
        self._interval = interval_seconds
        self._clock = clock
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    async def sweep_once(self) -> PruneReport | None:
        """Prune if this replica holds (or takes) the lease; `None` when another one does."""
        if not await self._leases.acquire(
            SWEEP_LEASE, self.holder, self._clock(), 2 * self._interval
        ):
            return None
        return await self._prune()

    async def run(self) -> None:
        """Sweep now and every interval until cancelled; a failed sweep waits for the next."""
        while True:
            try:
                report = await self.sweep_once()
            except ChatServiceError as error:
                # Not the database's absence alone: a batch that kept losing to concurrent
                # writes (`ConcurrentUpdate`) must not end the sweeping of this replica.
                log.warning("retention sweep failed (%s): %s", error.code, error)
            else:
                if report is not None and (report.chats or report.whatsapp_messages):
                    log.info(
                        "retention sweep deleted %d chats and %d WhatsApp message records",
                        report.chats,
                        report.whatsapp_messages,
                    )
            await asyncio.sleep(self._interval)
