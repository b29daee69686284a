"""The `ChatRepository` contract for a user's data as a whole (export, erasure, retention,
search), held against every adapter: in memory, SQLite and MariaDB (conftest.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from chatservice.application.ports import ChatCursor, ChatRepository
from chatservice.domain.chat import Role
from chatservice.domain.errors import ChatNotFound, ConcurrentUpdate
from chatservice.domain.search import search_words
from support.chat_records import T0, claim, message, new_chat, new_id, new_user, turn


async def test_a_users_chat_ids_are_walked_in_id_order_page_by_page(
    repository: ChatRepository,
) -> None:
    user = new_user()
    chats = [new_chat(user, exchanges=1) for _ in range(5)]
    for chat in chats:
        await repository.add_chat(chat)
    await repository.add_chat(new_chat(new_user()))

    pages: list[list[str]] = []
    after: str | None = None
    while not pages or len(pages[-1]) == 2:
        pages.append(await repository.list_chat_ids(user, 2, after))
        after = pages[-1][-1] if pages[-1] else after

    assert [len(page) for page in pages] == [2, 2, 1]
    assert [i for page in pages for i in page] == sorted(c.id for c in chats)
    assert await repository.list_chat_ids(new_user(), 10, None) == []


async def test_a_users_chats_are_deleted_in_batches_and_no_one_elses(
    repository: ChatRepository,
) -> None:
    user, other = new_user(), new_user()
    for _ in range(5):
        await repository.add_chat(new_chat(user, exchanges=2))
    kept = new_chat(other, exchanges=1)
    await repository.add_chat(kept)

    batches = [await repository.delete_user_chats(user, 2) for _ in range(4)]

    assert batches == [2, 2, 1, 0]
    assert await repository.list_chat_ids(user, 10, None) == []
    assert await repository.get_chat(other, kept.id) == kept


async def test_a_turn_racing_its_users_erasure_fails_and_stores_nothing(
    repository: ChatRepository,
) -> None:
    chat = new_chat(new_user(), exchanges=1)
    await repository.add_chat(chat)
    key = new_id()
    claimed = await repository.claim_turn(chat.user_id, chat.id, claim(key))

    assert await repository.delete_user_chats(chat.user_id, 10) == 1
    with pytest.raises(ConcurrentUpdate):
        await repository.commit_turn(turn(claimed, key))

    assert await repository.list_chat_ids(chat.user_id, 10, None) == []
    with pytest.raises(ChatNotFound):
        await repository.get_chat(chat.user_id, chat.id)


async def test_chats_not_updated_since_a_cutoff_are_deleted_but_not_one_a_turn_holds(
    repository: ChatRepository,
) -> None:
    cutoff = T0 + timedelta(days=30)
    old = [new_chat(new_user(), exchanges=1, updated_at=T0 + timedelta(days=i)) for i in range(3)]
    held = new_chat(new_user(), updated_at=T0)
    fresh = new_chat(new_user(), updated_at=cutoff)
    for chat in [*old, held, fresh]:
        await repository.add_chat(chat)
    now = cutoff + timedelta(days=1)
    await repository.claim_turn(held.user_id, held.id, claim(at=now))
    # Other tests' chats share the database: only these are counted on.
    before = await repository.count_chats_updated_before(cutoff, now)

    deleted = 0
    while batch := await repository.delete_chats_updated_before(cutoff, now, 2):
        deleted += batch

    assert deleted == before >= 3
    for chat in old:
        with pytest.raises(ChatNotFound):
            await repository.get_chat(chat.user_id, chat.id)
    assert await repository.count_chats_updated_before(cutoff, now) == 0
    assert (await repository.get_chat(fresh.user_id, fresh.id)).id == fresh.id
    assert (await repository.get_chat(held.user_id, held.id)).id == held.id
    # Once the claim has lapsed, the held chat goes too.
    later = now + timedelta(hours=1)
    assert await repository.delete_chats_updated_before(cutoff, later, 10) == 1


async def _chat_saying(repository: ChatRepository, user: str, *texts: str, **fields: object) -> str:
    chat = new_chat(user, **fields)
    chat.messages += [
        message(i + 1, Role.USER if i % 2 == 0 else Role.ASSISTANT, text)
        for i, text in enumerate(texts)
    ]
    await repository.add_chat(chat)
    return chat.id


async def test_search_finds_the_users_chats_holding_every_word_in_any_case(
    repository: ChatRepository,
) -> None:
    user, other = new_user(), new_user()
    both = await _chat_saying(repository, user, "Where is the Blue Whale?", "In the sea.")
    await _chat_saying(repository, user, "blue sky", "a whale of a time")  # not in one message
    reply = await _chat_saying(repository, user, "hello", "The BLUE whale, surely")
    await _chat_saying(repository, other, "blue whale")
    await _chat_saying(repository, user, "nothing here")

    found = await repository.search_chats(user, ("blue", "whale"), 10, None)

    assert {c.id for c in found} == {both, reply}
    assert all(c.messages == [] and c.user_id == user for c in found)
    assert await repository.search_chats(user, ("whale", "blue"), 10, None) == found
    assert await repository.search_chats(new_user(), ("blue",), 10, None) == []


async def test_search_passes_over_system_messages_and_sees_erased_and_superseded_ones(
    repository: ChatRepository,
) -> None:
    user = new_user()
    chat = new_chat(user, exchanges=1)
    chat.messages[0] = replace(chat.messages[0], content="secret system words")
    chat.messages[1] = replace(chat.messages[1], content="old question", erased=True)
    chat.messages[2] = replace(chat.messages[2], content="older answer", superseded=True)
    await repository.add_chat(chat)

    assert await repository.search_chats(user, ("secret",), 10, None) == []
    assert [c.id for c in await repository.search_chats(user, ("question",), 10, None)] == [chat.id]
    assert [c.id for c in await repository.search_chats(user, ("older",), 10, None)] == [chat.id]


async def test_search_results_are_newest_first_and_paged(repository: ChatRepository) -> None:
    user = new_user()
    ids = [
        await _chat_saying(repository, user, f"topic {i}", updated_at=T0 + timedelta(minutes=i))
        for i in range(5)
    ]

    first = await repository.search_chats(user, ("topic",), 3, None)
    after = ChatCursor(first[-1].updated_at, first[-1].id)
    rest = await repository.search_chats(user, ("topic",), 3, after)

    assert [c.id for c in first + rest] == ids[::-1]


async def test_a_committed_turn_is_found_and_a_deleted_chat_is_not(
    repository: ChatRepository,
) -> None:
    chat = new_chat(new_user(), exchanges=1)
    await repository.add_chat(chat)
    key = new_id()
    claimed = await repository.claim_turn(chat.user_id, chat.id, claim(key))
    await repository.commit_turn(turn(claimed, key))
    asked = turn(claimed, key).new_messages[0].content  # "question 3"

    found = await repository.search_chats(chat.user_id, search_words(asked), 10, None)
    assert [c.id for c in found] == [chat.id]

    await repository.delete_chat(chat.user_id, chat.id)
    assert await repository.search_chats(chat.user_id, search_words(asked), 10, None) == []
