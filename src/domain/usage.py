"""The usage ledger: the model calls the service paid for, and a user's spend read from them.

Every call that stores an outcome (a turn's reply, a summary) is recorded in the transaction that
stores it, by the model that answered, with what it cost and the tenants it is charged to. A
chat's deletion keeps its calls (it never refunds what it cost); a user's erasure removes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum

from chatservice.domain.chat import Usage
from chatservice.domain.prices import ZERO


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
        return self.at.astimezone(UTC).date()

    @property
    def tokens(self) -> int:
        """What the call counts against a token budget: prompt + completion tokens."""
        return self.usage.prompt_tokens + self.usage.completion_tokens


class GroupBy(StrEnum):
    """What a usage report groups a user's calls by: their UTC day, or the model that answered."""

    DAY = "day"
    MODEL = "model"


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
