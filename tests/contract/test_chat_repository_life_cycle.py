"""The `ChatRepository` contract for a user's data as a whole (export, erasure, retention,
search), held against every adapter: in memory, SQLite and MariaDB (conftest.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chatservice.application.ports import ChatRepository
from chatservice.domain.errors import ChatNotFound, ConcurrentUpdate
from support.chat_records import T0, claim, new_chat, new_id, new_user, turn


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
