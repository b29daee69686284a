"""Budget periods and refusals: UTC days and months, the Retry-After until the last limit
renews, and what counts as reached."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from chatservice.domain.budgets import (
    Account,
    AccountKind,
    BudgetClaim,
    Spend,
    day_end,
    month_end,
    month_start,
)
from chatservice.domain.tenants import Budget
from chatservice.domain.usage import utc_day

TOKENS = Budget(tokens_per_day=1000)
DOLLARS = Budget(usd_per_month=Decimal("5"))
BOB = Account(AccountKind.USER, "bob", TOKENS)
ACME = Account(AccountKind.TOKEN, "acme", DOLLARS)


def claim_at(now: datetime, *accounts: Account) -> BudgetClaim:
    return BudgetClaim(
        "chat-1",
        "turn-1",
        tuple(sorted(accounts, key=lambda a: a.key)),
        Spend(100, Decimal("0.01")),
        now,
        now + timedelta(minutes=2),
    )


def test_a_day_ends_at_the_next_utc_midnight() -> None:
    now = datetime(2026, 3, 14, 23, 59, 30, tzinfo=UTC)
    assert utc_day(now) == date(2026, 3, 14)
    assert day_end(now) == datetime(2026, 3, 15, tzinfo=UTC)


def test_periods_are_utc_whatever_zone_the_time_is_given_in() -> None:
    # 01:30 on the 1st in UTC+2 is still the last day of the previous month in UTC.
    now = datetime(2026, 7, 1, 1, 30, tzinfo=timezone(timedelta(hours=2)))
    assert utc_day(now) == date(2026, 6, 30)
    assert month_start(now) == date(2026, 6, 1)
    assert month_end(now) == datetime(2026, 7, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "end"),
    [
        (datetime(2026, 2, 10, 8, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)),
        (datetime(2028, 2, 29, 12, tzinfo=UTC), datetime(2028, 3, 1, tzinfo=UTC)),
        (datetime(2026, 12, 31, 23, 59, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)),
        (datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)),
    ],
    ids=["february", "leap-day", "last-minute-of-december", "first-instant-of-december"],
)
def test_a_month_ends_at_midnight_of_the_next_months_first_day(
    now: datetime, end: datetime
) -> None:
    assert month_end(now) == end
    assert month_start(now) == now.date().replace(day=1)


def test_a_turn_under_every_limit_may_start() -> None:
    claim = claim_at(datetime(2026, 5, 5, 12, tzinfo=UTC), BOB, ACME)
    spent = {BOB.key: Spend(999, Decimal(0)), ACME.key: Spend(10**9, Decimal("4.99"))}
    assert claim.refusal(spent) is None
    assert claim.refusal({}) is None


def test_a_limit_is_reached_at_the_budget_not_only_past_it() -> None:
    now = datetime(2026, 5, 5, 12, tzinfo=UTC)
    refusal = claim_at(now, BOB).refusal({BOB.key: Spend(1000, Decimal(0))})
    assert refusal is not None
    assert refusal.code == "budget_exhausted"
    assert refusal.retry_after_seconds == 12 * 3600
    assert refusal.renews_at == datetime(2026, 5, 6, tzinfo=UTC)
    assert refusal.message == (
        "the budget of 1000 tokens a day for user 'bob' is spent; no turn starts before "
        "2026-05-06T00:00:00Z"
    )


def test_the_month_limit_retries_after_the_month_ends() -> None:
    now = datetime(2026, 12, 31, 23, 0, tzinfo=UTC)
    refusal = claim_at(now, ACME).refusal({ACME.key: Spend(0, Decimal("5.000001"))})
    assert refusal is not None
    assert refusal.retry_after_seconds == 3600
    assert refusal.limits == ("$5 a month for token 'acme'",)


def test_with_several_limits_reached_the_retry_waits_for_the_last_to_renew() -> None:
    now = datetime(2026, 5, 30, 18, tzinfo=UTC)
    both = Account(AccountKind.USER, "ann", Budget(1000, Decimal("1.5")))
    refusal = claim_at(now, both, ACME).refusal(
        {both.key: Spend(1000, Decimal("1.5")), ACME.key: Spend(0, Decimal(0))}
    )
    assert refusal is not None
    assert len(refusal.limits) == 2
    assert refusal.renews_at == datetime(2026, 6, 1, tzinfo=UTC)
    assert refusal.retry_after_seconds == (30 * 3600)


def test_an_account_without_a_tokens_limit_is_not_held_to_one() -> None:
    claim = claim_at(datetime(2026, 5, 5, tzinfo=UTC), ACME)
    assert claim.refusal({ACME.key: Spend(10**12, Decimal("4"))}) is None


def test_a_claim_reads_the_ledger_from_the_start_of_the_longest_period_it_limits() -> None:
    now = datetime(2026, 5, 17, 9, tzinfo=UTC)
    claim = claim_at(now, BOB, ACME)
    assert claim.since(BOB) == date(2026, 5, 17)
    assert claim.since(ACME) == date(2026, 5, 1)


def test_accounts_of_each_kind_have_keys_of_their_own() -> None:
    user = Account(AccountKind.USER, "acme", TOKENS)
    token = Account(AccountKind.TOKEN, "acme", TOKENS)
    assert user.key != token.key
