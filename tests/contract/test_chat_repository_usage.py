"""The `ChatRepository` contract for the usage ledger: every stored reply and summary is one call
in it, written with its outcome or not at all; reports sum it by day or model exactly; a chat's
deletion keeps it, a user's erasure removes it. On every adapter (memory, SQLite, MariaDB)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from chatservice.application.ports import ChatRepository
from chatservice.domain.chat import Chat, Usage
from chatservice.domain.errors import ConcurrentUpdate
from chatservice.domain.memory import ChatSummary
from chatservice.domain.turn import TurnRecord
from chatservice.domain.usage import CallKind, GroupBy, PaidCall, UsageFigures, UsageGroup
from support.chat_records import claim, new_chat, new_id, new_user, summary_call, turn

#: A minute before and after a UTC midnight.
LATE = datetime(2026, 3, 31, 23, 59, tzinfo=UTC)
EARLY = LATE + timedelta(minutes=2)
MARCH_31, APRIL_1 = LATE.date(), EARLY.date()
#: Bills no float holds exactly, and the least a call can cost.
TENTH, PICODOLLAR = Decimal("0.1"), Decimal("0.000000000001")
EVERY_DAY = (date(2000, 1, 1), date(2100, 1, 1))


def paid_turn(
    chat: Chat, key: str, usage: Usage, model: str = "gpt-4o-mini", at: datetime = LATE
) -> TurnRecord:
    """A turn whose reply `model` wrote at `at`, for `usage`."""
    record = turn(chat, key)
    return replace(
        record,
        reply=replace(record.reply, model=model, cost=usage.cost),
        usage=usage,
        updated_at=at,
        call=PaidCall(CallKind.REPLY, model, at, usage, ("acme", "all")),
    )


async def take_turns(
    repository: ChatRepository, chat: Chat, *bills: tuple[Usage, str, datetime]
) -> None:
    """Store `chat` and one paid turn on it per bill (usage, model, time)."""
    await repository.add_chat(chat)
    for usage, model, at in bills:
        key = new_id()
        claimed = await repository.claim_turn(chat.user_id, chat.id, claim(key, at=at))
        await repository.commit_turn(paid_turn(claimed, key, usage, model, at))


async def everything(repository: ChatRepository, user_id: str) -> list[UsageGroup]:
    return await repository.usage_report(user_id, *EVERY_DAY, GroupBy.MODEL)


async def test_a_users_replies_are_summed_by_utc_day_and_by_model(
    repository: ChatRepository,
) -> None:
    user = new_user()
    first, second = Usage(100, 20, 40, TENTH), Usage(200, 30, 0, TENTH * 2)
    third = Usage(7, 1, 0, PICODOLLAR)
    await take_turns(
        repository,
        new_chat(user),
        (first, "gpt-4o-mini", LATE),
        (second, "gpt-4o-mini", EARLY),
        (third, "claude-haiku", EARLY),
    )
    await take_turns(repository, new_chat(new_user()), (first, "gpt-4o-mini", LATE))

    by_day = await repository.usage_report(user, MARCH_31, APRIL_1, GroupBy.DAY)
    by_model = await repository.usage_report(user, MARCH_31, APRIL_1, GroupBy.MODEL)

    one = UsageFigures.of
    assert by_day == [
        UsageGroup("2026-03-31", one(first)),
        UsageGroup("2026-04-01", one(second) + one(third)),
    ]
    assert by_model == [
        UsageGroup("claude-haiku", one(third)),
        UsageGroup("gpt-4o-mini", one(first) + one(second)),
    ]
    assert by_day[1].figures.cost == Decimal("0.200000000001")
    assert by_model[1].figures == UsageFigures(2, 300, 50, 40, Decimal("0.3"))
    assert by_model[1].figures.total_tokens == 350


async def test_a_report_takes_the_days_asked_for_both_included_and_no_others(
    repository: ChatRepository,
) -> None:
    user = new_user()
    bills = [(Usage(10, 1), "gpt-4o-mini", LATE + timedelta(days=d)) for d in (-1, 0, 1, 2)]
    await take_turns(repository, new_chat(user), *bills)

    report = await repository.usage_report(user, MARCH_31, APRIL_1, GroupBy.DAY)

    assert [g.key for g in report] == ["2026-03-31", "2026-04-01"]
    assert await repository.usage_report(user, APRIL_1, APRIL_1, GroupBy.MODEL) == [
        UsageGroup("gpt-4o-mini", UsageFigures(1, 10, 1))
    ]
    assert await repository.usage_report(new_user(), *EVERY_DAY, GroupBy.DAY) == []


async def test_a_turn_that_called_no_model_is_not_in_the_ledger(
    repository: ChatRepository,
) -> None:
    chat = new_chat(new_user(), exchanges=2)
    await repository.add_chat(chat)  # a fork's or an import's copies: no call was made
    key = new_id()
    claimed = await repository.claim_turn(chat.user_id, chat.id, claim(key))
    await repository.commit_turn(turn(claimed, key))  # no `call`: items added as they are

    assert await everything(repository, chat.user_id) == []


async def test_a_turn_that_loses_its_commit_leaves_no_call_in_the_ledger(
    repository: ChatRepository,
) -> None:
    chat = new_chat(new_user())
    await repository.add_chat(chat)
    key = new_id()
    claimed = await repository.claim_turn(chat.user_id, chat.id, claim(key))
    await repository.end_chat(chat.user_id, chat.id, LATE)  # moves the version

    with pytest.raises(ConcurrentUpdate):
        await repository.commit_turn(paid_turn(claimed, key, Usage(10, 1)))

    assert await everything(repository, chat.user_id) == []


async def test_a_stored_summary_is_a_call_in_the_ledger_and_a_lost_one_is_not(
    repository: ChatRepository,
) -> None:
    chat = new_chat(new_user(), exchanges=2, erased=2)
    await repository.add_chat(chat)
    summary = ChatSummary("They met.", 5, 4, EARLY)
    bill = Usage(300, 40, 0, TENTH)

    await repository.store_summary(
        chat.user_id, chat.id, summary, summary_call(bill, "claude-haiku", EARLY)
    )
    with pytest.raises(ConcurrentUpdate):
        await repository.store_summary(
            chat.user_id, chat.id, summary, summary_call(Usage(9, 9), "lost", EARLY)
        )

    assert await everything(repository, chat.user_id) == [
        UsageGroup("claude-haiku", UsageFigures.of(bill))
    ]


async def test_deleting_a_chat_or_sweeping_it_away_keeps_what_it_cost(
    repository: ChatRepository,
) -> None:
    user, bill = new_user(), Usage(10, 1, 0, TENTH)
    deleted, swept = new_chat(user), new_chat(user)
    await take_turns(repository, deleted, (bill, "gpt-4o-mini", LATE))
    await take_turns(repository, swept, (bill, "gpt-4o-mini", LATE))

    await repository.delete_chat(user, deleted.id)
    # Other tests' older chats share the database: sweep until none is left.
    while await repository.delete_chats_updated_before(EARLY + timedelta(days=1), EARLY, 10):
        pass

    assert await repository.list_chat_ids(user, 10, None) == []
    assert await everything(repository, user) == [
        UsageGroup("gpt-4o-mini", UsageFigures(2, 20, 2, 0, TENTH * 2))
    ]


async def test_a_users_calls_are_erased_in_batches_and_no_one_elses(
    repository: ChatRepository,
) -> None:
    user, other, bill = new_user(), new_user(), Usage(10, 1)
    await take_turns(repository, new_chat(user), *[(bill, "gpt-4o-mini", LATE)] * 3)
    await take_turns(repository, new_chat(other), (bill, "gpt-4o-mini", LATE))

    batches = [await repository.delete_user_usage(user, 2) for _ in range(3)]

    assert batches == [2, 1, 0]
    assert await everything(repository, user) == []
    assert await everything(repository, other) == [UsageGroup("gpt-4o-mini", UsageFigures.of(bill))]
