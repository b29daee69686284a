"""The `ChatRepository` contract for a conversation's versions and branches: superseded messages
(regenerated replies, edited questions) and forks, held against every adapter (conftest.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from chatservice.application.ports import ChatRepository
from chatservice.domain.chat import Chat, ForkOrigin
from chatservice.domain.errors import ChatNotFound, ConcurrentUpdate, TurnInProgress
from support.chat_records import (
    T0,
    claim,
    edit,
    history_of_versions,
    new_chat,
    new_id,
    new_user,
    regeneration,
    turn,
)


async def stored(repository: ChatRepository, chat: Chat) -> Chat:
    await repository.add_chat(chat)
    return chat


async def test_superseded_flags_replaced_ids_and_a_forks_origin_read_back_intact(
    repository: ChatRepository,
) -> None:
    chat = history_of_versions(new_user())
    chat.forked_from = ForkOrigin(new_id(), new_id(), "Fork-Key ")
    await repository.add_chat(chat)

    read = await repository.get_chat(chat.user_id, chat.id)

    assert read == chat
    assert [m.superseded for m in read.messages] == [False] * 4 + [True] + [False] * 3
    assert read.messages[5].replaces == read.messages[4].id


async def test_a_claim_leaves_superseded_messages_out_of_the_window_as_erased_ones(
    repository: ChatRepository,
) -> None:
    chat = await stored(repository, history_of_versions(new_user()))

    claimed = await repository.claim_turn(chat.user_id, chat.id, claim())

    assert [m.position for m in claimed.messages] == [0, 3, 5, 6, 7]
    assert claimed == replace(chat, messages=[m for m in chat.messages if m.in_window])


async def test_a_regenerate_supersedes_the_reply_and_adds_only_the_new_one(
    repository: ChatRepository,
) -> None:
    chat = await stored(repository, new_chat(new_user(), exchanges=3, erased=1, version=2))
    window = await repository.claim_turn(chat.user_id, chat.id, claim("again"))
    record = regeneration(window, "again", erase_before=5)

    await repository.commit_turn(record)

    after = await repository.get_chat(chat.user_id, chat.id)
    assert after == record.applied_to(chat)
    assert [(m.position, m.erased, m.superseded) for m in after.messages] == [
        (0, False, False),
        (1, True, False),
        (2, True, False),
        (3, True, False),
        (4, True, False),
        (5, False, False),
        (6, False, True),
        (7, False, False),
    ]
    assert (after.version, after.usage.prompt_tokens) == (3, 50)
    # The next turn's window (from this replica's cache, where it has one) is the new one.
    next_window = await repository.claim_turn(chat.user_id, chat.id, claim("next"))
    assert [m.position for m in next_window.messages] == [0, 5, 7]


async def test_an_edit_supersedes_the_question_and_its_reply_and_adds_the_new_pair(
    repository: ChatRepository,
) -> None:
    chat = await stored(repository, new_chat(new_user(), exchanges=2))
    window = await repository.claim_turn(chat.user_id, chat.id, claim("edit"))
    record = edit(window, "edit")

    await repository.commit_turn(record)

    after = await repository.get_chat(chat.user_id, chat.id)
    assert after == record.applied_to(chat)
    assert [m.superseded for m in after.messages] == [False, False, False, True, True, False, False]
    assert after.messages[5].replaces == chat.messages[3].id
    next_window = await repository.claim_turn(chat.user_id, chat.id, claim("next"))
    assert [m.position for m in next_window.messages] == [0, 1, 2, 5, 6]


async def test_erasure_passes_over_superseded_messages(repository: ChatRepository) -> None:
    chat = await stored(repository, history_of_versions(new_user()))
    window = await repository.claim_turn(chat.user_id, chat.id, claim("mine"))

    await repository.commit_turn(turn(window, "mine", erase_before=6))

    after = await repository.get_chat(chat.user_id, chat.id)
    erased = [m.position for m in after.messages if m.erased]
    superseded = [m.position for m in after.messages if m.superseded]
    assert (erased, superseded) == ([1, 2, 3, 5], [4])


async def test_a_regenerated_reply_is_found_by_its_key_with_the_question_it_answered(
    repository: ChatRepository,
) -> None:
    chat = await stored(repository, new_chat(new_user(), exchanges=2))
    window = await repository.claim_turn(chat.user_id, chat.id, claim("again"))
    record = regeneration(window, "again")
    await repository.commit_turn(record)

    found = await repository.find_turn(chat.user_id, chat.id, "again")

    assert found is not None
    assert (found.user_message, found.reply) == (chat.messages[3], record.reply)


async def test_a_turn_is_found_with_its_own_reply_after_that_reply_was_regenerated(
    repository: ChatRepository,
) -> None:
    chat = await stored(repository, new_chat(new_user(), exchanges=2))
    question, first_reply = chat.messages[3:5]
    window = await repository.claim_turn(chat.user_id, chat.id, claim("again"))
    await repository.commit_turn(regeneration(window, "again"))

    found = await repository.find_turn(chat.user_id, chat.id, question.idempotency_key or "")

    assert found is not None
    assert (found.user_message, found.reply) == (question, replace(first_reply, superseded=True))


async def test_find_message_finds_any_message_of_the_chat_whatever_its_flags(
    repository: ChatRepository,
) -> None:
    chat = await stored(repository, history_of_versions(new_user()))
    other = await stored(repository, new_chat(chat.user_id, exchanges=1))

    for expected in chat.messages:
        assert await repository.find_message(chat.user_id, chat.id, expected.id) == expected
    assert await repository.find_message(chat.user_id, chat.id, other.messages[1].id) is None
    assert await repository.find_message(chat.user_id, chat.id, new_id()) is None


async def test_a_settled_chat_is_read_whole_unless_a_turn_holds_it(
    repository: ChatRepository,
) -> None:
    chat = await stored(repository, history_of_versions(new_user()))
    assert await repository.get_settled_chat(chat.user_id, chat.id, T0) == chat
    await repository.claim_turn(chat.user_id, chat.id, claim("holder", ttl=60))

    with pytest.raises(TurnInProgress) as refused:
        await repository.get_settled_chat(chat.user_id, chat.id, T0 + timedelta(seconds=59))

    assert refused.value.idempotency_key == "holder"
    lapsed = T0 + timedelta(seconds=60)
    assert await repository.get_settled_chat(chat.user_id, chat.id, lapsed) == chat
    await repository.release_turn(chat.id, "holder")
    assert await repository.get_settled_chat(chat.user_id, chat.id, T0) == chat


def fork_of(chat: Chat, key: str | None, **fields: object) -> Chat:
    fork = new_chat(chat.user_id, exchanges=1, **fields)
    fork.forked_from = ForkOrigin(chat.id, chat.messages[-1].id, key)
    return fork


async def test_a_fork_is_found_by_the_chat_it_came_from_and_its_key_for_its_user_only(
    repository: ChatRepository,
) -> None:
    chat = await stored(repository, new_chat(new_user(), exchanges=1))
    fork = await stored(repository, fork_of(chat, "Key"))
    await repository.add_chat(fork_of(chat, None))
    await repository.add_chat(fork_of(chat, "other key"))

    assert await repository.find_fork(chat.user_id, chat.id, "Key") == fork
    assert await repository.find_fork(chat.user_id, chat.id, "key") is None
    assert await repository.find_fork(chat.user_id, chat.id, "Key ") is None
    assert await repository.find_fork(chat.user_id, fork.id, "Key") is None
    assert await repository.find_fork(new_user(), chat.id, "Key") is None


async def test_a_second_fork_under_the_same_key_is_refused_and_stores_nothing(
    repository: ChatRepository,
) -> None:
    chat = await stored(repository, new_chat(new_user(), exchanges=1))
    first = await stored(repository, fork_of(chat, "Key"))
    second = fork_of(chat, "Key")

    with pytest.raises(ConcurrentUpdate):
        await repository.add_chat(second)

    with pytest.raises(ChatNotFound):
        await repository.get_chat(chat.user_id, second.id)
    assert await repository.find_fork(chat.user_id, chat.id, "Key") == first
    # Keys are per chat: the same key forks another chat.
    other = await stored(repository, new_chat(chat.user_id, exchanges=1))
    await repository.add_chat(fork_of(other, "Key"))


async def test_a_fork_outlives_the_chat_it_came_from(repository: ChatRepository) -> None:
    chat = await stored(repository, new_chat(new_user(), exchanges=1))
    fork = await stored(repository, fork_of(chat, "Key"))

    await repository.delete_chat(chat.user_id, chat.id)

    assert await repository.get_chat(chat.user_id, fork.id) == fork
    assert await repository.find_fork(chat.user_id, chat.id, "Key") == fork


async def test_the_new_reads_treat_another_users_chat_and_an_unknown_one_as_not_found(
    repository: ChatRepository,
) -> None:
    chat = await stored(repository, new_chat(new_user(), exchanges=1))
    message_id = chat.messages[1].id
    for user_id, chat_id in ((new_user(), chat.id), (chat.user_id, new_id())):
        for attempt in (
            repository.find_message(user_id, chat_id, message_id),
            repository.get_settled_chat(user_id, chat_id, T0),
        ):
            with pytest.raises(ChatNotFound):
                await attempt
