"""Budgets: what a user, or all the users of a scoped token together, may spend per UTC period,
and whether one more turn may start.

An account is a user with the per-user budget, or a tenant (`tenants.py`) with its own. What an
account has spent in a period is its stored usage since the period began plus the reserves of its
turns still running: a turn reserves what it may cost at most before its model is called, and
gives the reserve back when it is stored (its usage then counts) or fails. A turn starts while
every account it counts against is under each of its limits, so the last one admitted may take
an account past a limit by its own reserve, never more
(docs/adr/0015-budget-reserves-under-a-lock-row.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum

from chatservice.domain.errors import BudgetExhausted, shown
from chatservice.domain.prices import ZERO, cost_text
from chatservice.domain.tenants import Budget
from chatservice.domain.usage import utc_day


def month_start(now: datetime) -> date:
    """The first day of the UTC calendar month `now` is in: the period of the USD budgets."""
    return utc_day(now).replace(day=1)


def day_end(now: datetime) -> datetime:
    """The instant the UTC day of `now` ends (the next midnight)."""
    return _midnight(utc_day(now) + timedelta(days=1))


def month_end(now: datetime) -> datetime:
    """The instant the UTC month of `now` ends (midnight of the next month's first day)."""
    first = month_start(now)
    if first.month == 12:
        return _midnight(first.replace(year=first.year + 1, month=1))
    return _midnight(first.replace(month=first.month + 1))


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), UTC)


class AccountKind(StrEnum):
    #: One user, under the per-user budget.
    USER = "user"
    #: Every user a scoped token covers, together, under the token's budget.
    TOKEN = "token"


@dataclass(frozen=True)
class Account:
    """Whose spending a budget limits: a user (`name` their id) or a tenant (its token's name)."""

    kind: AccountKind
    name: str
    budget: Budget

    @property
    def key(self) -> str:
        """The account, named once for every kind: what stores key its reserves by."""
        return f"{self.kind.value}:{self.name}"

    def __str__(self) -> str:
        return f"{self.kind.value} {shown(self.name)}"


@dataclass(frozen=True)
class Spend:
    """Tokens (prompt + completion) and USD: a turn's reserve, or what an account spent."""

    tokens: int = 0
    cost: Decimal = ZERO

    def __add__(self, other: Spend) -> Spend:
        return Spend(self.tokens + other.tokens, self.cost + other.cost)


@dataclass(frozen=True)
class BudgetClaim:
    """A turn's claim on the budgets it counts against, taken at `now` before its model is
    called: `reserve`, what it may spend at most, held for each of `accounts` until the turn is
    stored or given up, or until `expires_at` (its claim on the chat's) for a turn whose replica
    died. The turn is named as its chat claim is: `chat_id` and `idempotency_key`."""

    chat_id: str
    idempotency_key: str
    #: The accounts with a limit, in `key` order: the order claims lock them in.
    accounts: tuple[Account, ...]
    reserve: Spend
    now: datetime
    expires_at: datetime

    def __post_init__(self) -> None:
        keys = [a.key for a in self.accounts]
        assert keys == sorted(set(keys)), "accounts come once each, in key order"

    @property
    def day(self) -> date:
        """The first day counted against a tokens-per-day limit."""
        return utc_day(self.now)

    @property
    def month(self) -> date:
        """The first day counted against a USD-per-month limit."""
        return month_start(self.now)

    def since(self, account: Account) -> date:
        """The first day of `account`'s stored usage that any of its limits counts."""
        return self.month if account.budget.usd_per_month > 0 else self.day

    def refusal(self, spent: Mapping[str, Spend]) -> BudgetExhausted | None:
        """Why the turn may not start, given what each account (by `key`) has spent in its
        periods, reserves included (tokens this day, USD this month): every limit reached, and
        the seconds until the last of them renews. `None`: the turn may start."""
        reached: list[tuple[str, datetime]] = []
        for account in self.accounts:
            used, budget = spent.get(account.key, Spend()), account.budget
            if budget.tokens_per_day and used.tokens >= budget.tokens_per_day:
                reached.append(
                    (f"{budget.tokens_per_day} tokens a day for {account}", day_end(self.now))
                )
            if budget.usd_per_month and used.cost >= budget.usd_per_month:
                limit = cost_text(budget.usd_per_month)
                reached.append((f"${limit} a month for {account}", month_end(self.now)))
        if not reached:
            return None
        renewal = max(end for _, end in reached)
        return BudgetExhausted(
            tuple(limit for limit, _ in reached), renewal, (renewal - self.now).total_seconds()
        )
