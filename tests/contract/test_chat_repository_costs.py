"""The `ChatRepository` contract for money: what replies, chats and summaries cost comes back
exactly as it was stored, and sums exactly, on every adapter (in memory, SQLite, MariaDB)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

from chatservice.application.ports import ChatRepository
from chatservice.domain.chat import Role, Usage
from chatservice.domain.memory import ChatSummary, Memory
from support.chat_records import T0, claim, message, new_chat, new_user, summary_call, turn

PICODOLLAR = Decimal("0.000000000001")
#: A bill no float holds: 0.1 + 0.2 as floats is not 0.3.
TENTH = Decimal("0.1")


async def test_a_reply_keeps_its_cost_and_cached_tokens_to_the_picodollar(
    repository: ChatRepository,
) -> None:
    chat = new_chat(new_user(), usage=Usage(10, 3, 4, Decimal("123456.789012345678")))
    chat.messages += [
        message(1, Role.USER, "Hi"),
        message(
            2,
            Role.ASSISTANT,
            "Hello",
            prompt_tokens=10,
            completion_tokens=3,
            cached_prompt_tokens=4,
            cost=PICODOLLAR,
        ),
    ]
    await repository.add_chat(chat)

    stored = await repository.get_chat(chat.user_id, chat.id)

    assert stored.messages[2].cost == PICODOLLAR
    assert stored.messages[2].cached_prompt_tokens == 4
    assert stored.messages[1].cost is None
    assert stored.usage == chat.usage


async def test_each_commit_adds_its_turns_cost_to_the_chats_exactly(
    repository: ChatRepository,
) -> None:
    chat = new_chat(new_user())
    await repository.add_chat(chat)
    for n in range(3):
        await repository.claim_turn(chat.user_id, chat.id, claim(f"turn {n}"))
        record = turn(chat, f"turn {n}")
        record = replace(record, usage=Usage(100, 20, 7, TENTH + PICODOLLAR))
        await repository.commit_turn(record)
        chat = await repository.get_chat(chat.user_id, chat.id)

    assert chat.usage.cost == Decimal("0.300000000003")
    assert chat.usage.cached_prompt_tokens == 21


async def test_what_the_summaries_cost_is_added_to_the_chats_cost(
    repository: ChatRepository,
) -> None:
    chat = new_chat(
        new_user(), exchanges=2, erased=1, memory=Memory.SUMMARY, usage=Usage(1, 1, 0, TENTH)
    )
    await repository.add_chat(chat)
    later = T0 + timedelta(minutes=1)
    summary = ChatSummary("They met.", 5, 2, later, 1)

    await repository.store_summary(
        chat.user_id, chat.id, summary, summary_call(Usage(50, 10, 0, TENTH))
    )
    await repository.store_summary(
        chat.user_id,
        chat.id,
        replace(summary, version=2),
        summary_call(Usage(50, 10, 5, TENTH * 2)),
    )

    stored = await repository.get_chat(chat.user_id, chat.id)
    assert stored.usage == Usage(101, 21, 5, Decimal("0.4"))
