"""A user's spend: their calls in the usage ledger over a span of UTC days, summed by day or by
model (what `GET /v1/users/{u}/usage` and gRPC `GetUsage` answer)."""

from __future__ import annotations

from chatservice.application.clock import Clock, utc_now
from chatservice.application.ports import ChatRepository
from chatservice.domain.chat import validate_user_id
from chatservice.domain.usage import (
    GroupBy,
    UsageReport,
    day_named,
    group_by_named,
    report_period,
    utc_day,
)


class ReportUsage:
    def __init__(self, repository: ChatRepository, clock: Clock = utc_now) -> None:
        self._repository = repository
        self._clock = clock

    async def __call__(
        self,
        user_id: str,
        first_day: str | None = None,
        last_day: str | None = None,
        group_by: str | None = None,
    ) -> UsageReport:
        """The user's calls from `first_day` to `last_day` (`YYYY-MM-DD`, UTC, both included;
        by default from the first of `last_day`'s month, and to today), grouped by `day` (the
        default) or `model`. Every reply and summary stored since the ledger began counts, its
        chat deleted or not. Raises `InvalidInput` (a bad user id, day, grouping, or span:
        `report_period`), `StorageUnavailable`."""
        validate_user_id(user_id)
        grouping = GroupBy.DAY if group_by is None else group_by_named(group_by)
        first, last = report_period(
            None if first_day is None else day_named(first_day, "from"),
            None if last_day is None else day_named(last_day, "to"),
            utc_day(self._clock()),
        )
        groups = await self._repository.usage_report(user_id, first, last, grouping)
        return UsageReport(user_id, first, last, grouping, tuple(groups))
