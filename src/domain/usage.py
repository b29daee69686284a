"""The usage ledger: the model calls the service paid for, and a user's spend read from them.

Every call that stores an outcome (a turn's reply, a summary) is recorded in the transaction that
stores it, by the model that answered, with what it cost and the tenants it is charged to. A
chat's deletion keeps its calls (it never refunds what it cost); a user's erasure removes them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from chatservice.domain.chat import Usage
from chatservice.domain.errors import InvalidInput, member_named
from chatservice.domain.prices import ZERO

#: The most days one report covers: a year, a leap year's included. A longer span is a series
#: of reports (each a bounded read of the user's rows).
MAX_REPORT_DAYS = 366
#: A UTC day as reports name it; ASCII digits only (`\d` would take any script's digits).
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def utc_day(at: datetime) -> date:
    """The UTC calendar day `at` is in: the day a call counts in, in reports and in budgets
    (whose token periods are these days, and USD periods their months)."""
    return at.astimezone(UTC).date()


class CallKind(StrEnum):
    REPLY = "reply"
    SUMMARY = "summary"


@dataclass(frozen=True)
class PaidCall:
    """One model call the service paid for: what it was for, the model that answered (a
    fallback bills as itself), when its outcome was stored, what it used and cost, and the names
    of the tenants covering its user then, each of whom it is charged to."""

    kind: CallKind
    model: str
    at: datetime
    usage: Usage
    charged_to: tuple[str, ...] = ()

    @property
    def day(self) -> date:
        """The UTC calendar day the call counts in."""
        return utc_day(self.at)

    @property
    def tokens(self) -> int:
        """What the call counts against a token budget: prompt + completion tokens."""
        return self.usage.prompt_tokens + self.usage.completion_tokens


class GroupBy(StrEnum):
    """What a usage report groups a user's calls by: their UTC day, or the model that answered."""

    DAY = "day"
    MODEL = "model"


def group_by_named(name: str) -> GroupBy:
    """The grouping of that name; `InvalidInput` for any other."""
    return member_named(GroupBy, "group_by", name)


def day_named(text: str, field: str) -> date:
    """`text` as a calendar day, `YYYY-MM-DD` and nothing else; `InvalidInput` naming `field`
    for any other text or a day no calendar has."""
    try:
        if _DAY.fullmatch(text):
            return date.fromisoformat(text)
    except ValueError:
        pass
    raise InvalidInput(f"{field} must be a day as YYYY-MM-DD (2026-04-01), not {text[:40]!r}")


def report_period(first_day: date | None, last_day: date | None, today: date) -> tuple[date, date]:
    """The days a report covers, both included: `last_day` defaults to `today`, `first_day` to
    the first of `last_day`'s month. `InvalidInput` when the first comes after the last, or the
    span is longer than `MAX_REPORT_DAYS`."""
    last = today if last_day is None else last_day
    first = last.replace(day=1) if first_day is None else first_day
    if first > last:
        raise InvalidInput(f"from ({first}) must not come after to ({last})")
    if last - first >= timedelta(days=MAX_REPORT_DAYS):
        raise InvalidInput(
            f"a report covers at most {MAX_REPORT_DAYS} days; from {first} to {last} is "
            f"{(last - first).days + 1}"
        )
    return first, last


@dataclass(frozen=True)
class UsageFigures:
    """What a set of calls used and cost, summed."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_prompt_tokens: int = 0
    cost: Decimal = ZERO

    @classmethod
    def of(cls, usage: Usage) -> UsageFigures:
        """The figures of one call that used `usage`."""
        return cls(
            1, usage.prompt_tokens, usage.completion_tokens, usage.cached_prompt_tokens, usage.cost
        )

    @property
    def total_tokens(self) -> int:
        """Prompt + completion tokens, as budgets count them."""
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: UsageFigures) -> UsageFigures:
        return UsageFigures(
            self.calls + other.calls,
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.cached_prompt_tokens + other.cached_prompt_tokens,
            self.cost + other.cost,
        )


@dataclass(frozen=True)
class UsageGroup:
    """One group of a report: `key` is the day (`YYYY-MM-DD`) or the model's name."""

    key: str
    figures: UsageFigures


@dataclass(frozen=True)
class UsageReport:
    """A user's calls from `first_day` to `last_day` (UTC, both included), in `groups` by day or
    by model in the order of their keys, and their `total`."""

    user_id: str
    first_day: date
    last_day: date
    group_by: GroupBy
    groups: tuple[UsageGroup, ...]

    @property
    def total(self) -> UsageFigures:
        return sum((g.figures for g in self.groups), UsageFigures())
