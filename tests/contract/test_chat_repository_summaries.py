"""The `ChatRepository` contract for chats' running summaries, held against every adapter: in
memory, SQLite and MariaDB, with and without the window cache (conftest.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from chatservice.application.ports import ChatRepository
from chatservice.domain.chat import Usage
from chatservice.domain.errors import ChatNotFound, ConcurrentUpdate
from chatservice.domain.memory import ChatSummary, Memory
from support.chat_records import T0, claim, new_chat, new_user, summary_call, turn

LATER = T0 + timedelta(minutes=1)


def summary(covers: int, version: int = 1, content: str = "They met; Ana is 31.") -> ChatSummary:
    return ChatSummary(content, 12, covers, LATER, version)


async def test_a_chat_keeps_its_choice_of_memory(repository: ChatRepository) -> None:
    chat = new_chat(new_user(), memory=Memory.SUMMARY)
    await repository.add_chat(chat)

    stored = await repository.get_chat(chat.user_id, chat.id)

    assert stored.memory is Memory.SUMMARY
    assert stored.summary is None


async def test_every_erased_message_awaits_the_first_summary(repository: ChatRepository) -> None:
    chat = new_chat(new_user(), exchanges=4, erased=2, memory=Memory.SUMMARY)
    await repository.add_chat(chat)

    pending = await repository.erased_since_summary(chat.user_id, chat.id)

    assert [m.position for m in pending.erased] == [1, 2, 3, 4]
    assert pending.erased == tuple(chat.messages[1:5])
    assert pending.chat.messages == []
    assert pending.chat.summary is None


async def test_a_stored_summary_reads_back_with_the_chat(repository: ChatRepository) -> None:
    chat = new_chat(new_user(), exchanges=3, erased=1, memory=Memory.SUMMARY, usage=Usage(5, 6))
    await repository.add_chat(chat)

    await repository.store_summary(chat.user_id, chat.id, summary(2), summary_call(Usage(100, 20)))

    stored = await repository.get_chat(chat.user_id, chat.id)
    assert stored.summary == summary(2)
    assert stored.usage == Usage(105, 26)
    assert stored.version == chat.version  # a summary moves no turn's version
    [listed] = await repository.list_chats(chat.user_id, 10, None)
    assert listed.usage == Usage(105, 26)


async def test_a_summary_covers_only_what_it_says(repository: ChatRepository) -> None:
    chat = new_chat(new_user(), exchanges=4, erased=3, memory=Memory.SUMMARY)
    await repository.add_chat(chat)
    await repository.store_summary(chat.user_id, chat.id, summary(4), summary_call(Usage()))

    pending = await repository.erased_since_summary(chat.user_id, chat.id)

    assert [m.position for m in pending.erased] == [5, 6]
    assert pending.chat.summary == summary(4)


async def test_a_later_summary_replaces_the_one_it_was_written_from(
    repository: ChatRepository,
) -> None:
    chat = new_chat(new_user(), exchanges=3, erased=2, memory=Memory.SUMMARY)
    await repository.add_chat(chat)
    await repository.store_summary(chat.user_id, chat.id, summary(2), summary_call(Usage(10, 1)))

    await repository.store_summary(
        chat.user_id, chat.id, summary(4, version=2, content="later"), summary_call(Usage(20, 2))
    )

    stored = await repository.get_chat(chat.user_id, chat.id)
    assert stored.summary == summary(4, version=2, content="later")
    assert stored.usage == Usage(30, 3)


@pytest.mark.parametrize("version", [1, 3])
async def test_a_summary_not_written_from_the_stored_one_is_refused(
    repository: ChatRepository, version: int
) -> None:
    chat = new_chat(new_user(), exchanges=3, erased=2, memory=Memory.SUMMARY)
    await repository.add_chat(chat)
    await repository.store_summary(chat.user_id, chat.id, summary(2), summary_call(Usage(10, 1)))

    with pytest.raises(ConcurrentUpdate):
        await repository.store_summary(
            chat.user_id,
            chat.id,
            summary(4, version=version, content="lost"),
            summary_call(Usage(99, 9)),
        )

    stored = await repository.get_chat(chat.user_id, chat.id)
    assert stored.summary == summary(2)
    assert stored.usage == Usage(10, 1)


async def test_a_summary_for_another_users_chat_is_not_found(repository: ChatRepository) -> None:
    chat = new_chat(new_user(), exchanges=2, erased=1, memory=Memory.SUMMARY)
    await repository.add_chat(chat)

    with pytest.raises(ChatNotFound):
        await repository.store_summary(
            new_user("other"), chat.id, summary(2), summary_call(Usage())
        )
    with pytest.raises(ChatNotFound):
        await repository.erased_since_summary(new_user("other"), chat.id)


async def test_a_claim_carries_the_summary_stored_since_the_last_turn(
    repository: ChatRepository,
) -> None:
    chat = new_chat(new_user(), exchanges=3, memory=Memory.SUMMARY)
    await repository.add_chat(chat)
    first = claim()
    claimed = await repository.claim_turn(chat.user_id, chat.id, first)
    await repository.commit_turn(turn(claimed, first.idempotency_key, erase_before=3))
    # Stored while no turn runs, and while one does: neither waits on the other.
    await repository.store_summary(chat.user_id, chat.id, summary(2), summary_call(Usage()))
    second = claim()
    claimed = await repository.claim_turn(chat.user_id, chat.id, second)
    await repository.store_summary(
        chat.user_id, chat.id, summary(2, version=2), summary_call(Usage())
    )
    await repository.commit_turn(turn(claimed, second.idempotency_key))

    assert claimed.summary == summary(2)
    again = await repository.claim_turn(chat.user_id, chat.id, claim())
    assert again.summary == summary(2, version=2)
    assert [m.position for m in again.messages] == [0, 3, 4, 5, 6, 7, 8, 9, 10]


async def test_deleting_a_chat_deletes_its_summary(repository: ChatRepository) -> None:
    chat = new_chat(new_user(), exchanges=2, erased=1, memory=Memory.SUMMARY)
    await repository.add_chat(chat)
    await repository.store_summary(chat.user_id, chat.id, summary(2), summary_call(Usage()))

    await repository.delete_chat(chat.user_id, chat.id)
    await repository.add_chat(replace(chat, summary=None))

    assert (await repository.get_chat(chat.user_id, chat.id)).summary is None
