"""The `ChatRepository` contract for budgets: a claim reserves while its accounts are under their
limits and is refused at them, counts the unexpired reserves of other turns, and a turn's
commit or release gives its reserve back; on every adapter (in memory, SQLite, MariaDB)."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from chatservice.application.ports import ChatRepository
from chatservice.domain.budgets import Account, AccountKind, BudgetClaim, Spend
from chatservice.domain.chat import Usage
from chatservice.domain.errors import BudgetExhausted
from chatservice.domain.memory import ChatSummary, Memory
from chatservice.domain.tenants import Budget
from chatservice.domain.usage import CallKind, PaidCall
from support.chat_records import T0, claim, new_chat, new_id, new_user, summary_call, turn

TTL = timedelta(minutes=2)


def user_account(tokens_per_day: int = 0, usd_per_month: str = "0") -> Account:
    return Account(AccountKind.USER, new_user(), Budget(tokens_per_day, Decimal(usd_per_month)))


def tenant_account(tokens_per_day: int = 0) -> Account:
    return Account(AccountKind.TOKEN, f"tenant-{uuid.uuid4().hex[:8]}", Budget(tokens_per_day))


def budget_claim(
    *accounts: Account,
    tokens: int = 100,
    cost: str = "0",
    now: datetime = T0,
    chat_id: str | None = None,
    idempotency_key: str | None = None,
) -> BudgetClaim:
    return BudgetClaim(
        chat_id or new_id(),
        idempotency_key or new_id(),
        tuple(sorted(accounts, key=lambda a: a.key)),
        Spend(tokens, Decimal(cost)),
        now,
        now + TTL,
    )


async def admitted(repository: ChatRepository, claim: BudgetClaim) -> bool:
    try:
        await repository.claim_budget(claim)
    except BudgetExhausted:
        return False
    return True


async def test_claims_are_admitted_while_under_the_limit_and_refused_once_at_it(
    repository: ChatRepository,
) -> None:
    bob = user_account(tokens_per_day=1000)

    # 0, then 600 reserved: under 1000, so both start; the second may pass the limit by its own.
    assert await admitted(repository, budget_claim(bob, tokens=600))
    assert await admitted(repository, budget_claim(bob, tokens=600))
    with pytest.raises(BudgetExhausted) as refused:
        await repository.claim_budget(budget_claim(bob, tokens=1))

    midnight = datetime(2024, 5, 7, tzinfo=UTC)
    assert refused.value.retry_after_seconds == (midnight - T0).total_seconds()


async def test_a_refused_claim_reserves_nothing(repository: ChatRepository) -> None:
    bob = user_account(tokens_per_day=100)
    first = budget_claim(bob, tokens=100)
    await repository.claim_budget(first)
    assert not await admitted(repository, budget_claim(bob, tokens=100))

    await repository.release_turn(first.chat_id, first.idempotency_key)

    assert await admitted(repository, budget_claim(bob, tokens=50))


async def test_expired_reserves_no_longer_count(repository: ChatRepository) -> None:
    bob = user_account(tokens_per_day=100)
    await repository.claim_budget(budget_claim(bob, tokens=100))
    assert not await admitted(repository, budget_claim(bob, now=T0 + TTL - timedelta(seconds=1)))

    assert await admitted(repository, budget_claim(bob, now=T0 + TTL))


async def test_the_usd_limit_counts_the_reserves_cost(repository: ChatRepository) -> None:
    ann = user_account(usd_per_month="0.05")
    assert await admitted(repository, budget_claim(ann, tokens=10**6, cost="0.049999999999"))
    assert await admitted(repository, budget_claim(ann, cost="0.000000000001"))

    with pytest.raises(BudgetExhausted) as refused:
        await repository.claim_budget(budget_claim(ann))
    assert refused.value.limits == (f"$0.05 a month for {ann}",)


async def test_a_tenant_counts_the_reserves_of_every_user_it_covers(
    repository: ChatRepository,
) -> None:
    acme = tenant_account(tokens_per_day=150)
    ann, bob = user_account(tokens_per_day=10**6), user_account(tokens_per_day=10**6)
    assert await admitted(repository, budget_claim(acme, ann, tokens=100))
    assert await admitted(repository, budget_claim(acme, bob, tokens=100))

    with pytest.raises(BudgetExhausted) as refused:
        await repository.claim_budget(budget_claim(acme, ann, tokens=100))
    assert refused.value.limits == (f"150 tokens a day for {acme}",)
    # The users' own budgets are far from spent: another tenant's user is not held back.
    assert await admitted(repository, budget_claim(tenant_account(150), bob, tokens=100))


async def test_releasing_a_turn_gives_its_reserve_back_and_its_claim_up(
    repository: ChatRepository,
) -> None:
    chat = new_chat(new_user())
    await repository.add_chat(chat)
    bob = Account(AccountKind.USER, chat.user_id, Budget(tokens_per_day=100))
    key = new_id()
    await repository.claim_turn(chat.user_id, chat.id, claim(key))
    await repository.claim_budget(budget_claim(bob, chat_id=chat.id, idempotency_key=key))
    assert not await admitted(repository, budget_claim(bob))

    await repository.release_turn(chat.id, key)

    assert await admitted(repository, budget_claim(bob))


async def test_committing_a_turn_gives_its_reserve_back(repository: ChatRepository) -> None:
    chat = new_chat(new_user())
    await repository.add_chat(chat)
    bob = Account(AccountKind.USER, chat.user_id, Budget(tokens_per_day=10**6))
    key = new_id()
    await repository.claim_turn(chat.user_id, chat.id, claim(key))
    await repository.claim_budget(
        budget_claim(bob, tokens=10**6, chat_id=chat.id, idempotency_key=key)
    )
    assert not await admitted(repository, budget_claim(bob))

    await repository.commit_turn(turn(chat, key))

    assert await admitted(repository, budget_claim(bob))


async def test_the_release_of_a_turn_gives_back_its_own_reserve_alone(
    repository: ChatRepository,
) -> None:
    bob = user_account(tokens_per_day=200)
    first, second = budget_claim(bob, tokens=100), budget_claim(bob, tokens=100)
    await repository.claim_budget(first)
    await repository.claim_budget(second)

    await repository.release_turn(first.chat_id, first.idempotency_key)

    assert await admitted(repository, budget_claim(bob, tokens=100))
    assert not await admitted(repository, budget_claim(bob, tokens=100))


async def test_concurrent_claims_on_one_account_each_see_the_reserves_before_them(
    repository: ChatRepository,
) -> None:
    acme = tenant_account(tokens_per_day=250)
    claims = [budget_claim(acme, user_account(tokens_per_day=10**6)) for _ in range(12)]

    outcomes = await asyncio.gather(*(admitted(repository, c) for c in claims))

    # Admitted at 0, 100 and 200 reserved; refused from 300 on, whatever the order.
    assert outcomes.count(True) == 3


async def commit_paid_turn(
    repository: ChatRepository, user_id: str, at: datetime, usage: Usage, *tenants: str
) -> None:
    """A stored turn of `user_id` at `at` that used `usage`, charged to `tenants`."""
    chat = new_chat(user_id)
    await repository.add_chat(chat)
    key = new_id()
    claimed = await repository.claim_turn(user_id, chat.id, claim(key, at=at))
    record = turn(claimed, key)
    await repository.commit_turn(
        replace(
            record,
            usage=usage,
            updated_at=at,
            call=PaidCall(CallKind.REPLY, "gpt-4o-mini", at, usage, tenants),
        )
    )


async def test_stored_usage_counts_tokens_of_the_day_and_usd_of_the_month(
    repository: ChatRepository,
) -> None:
    now = datetime(2026, 3, 31, 12, tzinfo=UTC)
    bob = user_account(tokens_per_day=1000, usd_per_month="1")
    # Earlier days of the month count against its USD, not against the day's tokens.
    for days_ago, usage in [
        (29, Usage(900, 99, 0, Decimal("0.3"))),
        (1, Usage(9, 0, 0, Decimal("0.1"))),
    ]:
        await commit_paid_turn(repository, bob.name, now - timedelta(days=days_ago), usage)
    # The month before counts against nothing.
    big = Usage(10**6, 0, 0, Decimal(9))
    await commit_paid_turn(repository, bob.name, now - timedelta(days=31), big)
    assert await admitted(repository, budget_claim(bob, tokens=1, now=now))

    await commit_paid_turn(repository, bob.name, now, Usage(500, 100, 0, Decimal("0.6")))

    with pytest.raises(BudgetExhausted) as refused:
        await repository.claim_budget(budget_claim(bob, tokens=1, now=now))
    # $1 of the month reached (0.3 + 0.1 + 0.6); the 600 tokens of the day are not.
    assert refused.value.limits == (f"$1 a month for {bob}",)
    assert refused.value.renews_at == datetime(2026, 4, 1, tzinfo=UTC)


async def test_a_tenant_counts_the_stored_usage_charged_to_it(repository: ChatRepository) -> None:
    now = datetime(2026, 3, 31, 12, tzinfo=UTC)
    acme = tenant_account(tokens_per_day=1000)
    ann, bob = new_user("ann"), new_user("bob")
    await commit_paid_turn(repository, ann, now, Usage(400, 100), acme.name)
    await commit_paid_turn(repository, bob, now, Usage(400, 99), acme.name, "another")
    assert await admitted(repository, budget_claim(acme, tokens=1, now=now))  # 999 of 1000

    # 999 stored and 1 reserved: at the limit, whoever asks next.
    assert not await admitted(repository, budget_claim(acme, now=now))
    assert await admitted(repository, budget_claim(tenant_account(1000), now=now))


async def test_a_summarys_stored_usage_counts_though_no_summary_is_checked(
    repository: ChatRepository,
) -> None:
    now = datetime(2026, 3, 31, 12, tzinfo=UTC)
    chat = new_chat(new_user(), exchanges=2, erased=1, memory=Memory.SUMMARY)
    await repository.add_chat(chat)
    bob = Account(AccountKind.USER, chat.user_id, Budget(tokens_per_day=100))
    summary = ChatSummary("They met.", 5, 2, now, 1)

    await repository.store_summary(
        chat.user_id, chat.id, summary, summary_call(Usage(90, 10), at=now)
    )

    assert not await admitted(repository, budget_claim(bob, now=now))
