"""The `ChatRepository` contract for a chat's head (`get_chat_head`): the chat without its
messages and its latest message not superseded, which a Responses turn reads to learn whether
the reply it continues is still the chat's last word. Held against every adapter (conftest.py);
its cost is tests/integration/test_turn_cost.py's business."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from chatservice.application.ports import ChatRepository
from chatservice.domain.chat import Chat
from chatservice.domain.errors import ChatNotFound
from chatservice.domain.memory import Memory
from chatservice.domain.turn import TurnRecord
from support import chat_records as records


def without_messages(chat: Chat) -> Chat:
    return replace(chat, messages=[])


async def test_the_head_is_the_chat_without_messages_and_its_latest_message_not_superseded(
    repository: ChatRepository,
) -> None:
    chat = records.history_of_versions(records.new_user())
    chat.title, chat.version, chat.memory = "Versions", 3, Memory.SUMMARY
    await repository.add_chat(chat)

    head = await repository.get_chat_head(chat.user_id, chat.id)

    assert head.chat == without_messages(chat)
    assert head.latest == chat.messages[-1]


async def test_superseded_messages_at_the_end_are_passed_over(repository: ChatRepository) -> None:
    """Positions 0 · 1 2 · 3 4 (both superseded): the latest not superseded is 2."""
    chat = records.new_chat(records.new_user(), exchanges=2)
    chat.messages[3:] = [replace(m, superseded=True) for m in chat.messages[3:]]
    await repository.add_chat(chat)

    head = await repository.get_chat_head(chat.user_id, chat.id)

    assert head.latest == chat.messages[2]


async def test_an_erased_message_is_the_latest_when_it_comes_last(
    repository: ChatRepository,
) -> None:
    """Erased or not, the latest not superseded is the one of the highest position: here an
    erased exchange after the window's system message."""
    chat = records.new_chat(records.new_user())
    chat.messages += records.exchange(1, erased=True)
    await repository.add_chat(chat)

    head = await repository.get_chat_head(chat.user_id, chat.id)

    assert head.latest == chat.messages[2]
    assert head.latest is not None and head.latest.erased


async def test_a_chat_without_messages_has_no_latest_and_one_with_a_system_message_that(
    repository: ChatRepository,
) -> None:
    empty = replace(records.new_chat(records.new_user()), messages=[])
    alone = records.new_chat(empty.user_id)
    await repository.add_chat(empty)
    await repository.add_chat(alone)

    assert (await repository.get_chat_head(empty.user_id, empty.id)).latest is None
    assert (await repository.get_chat_head(alone.user_id, alone.id)).latest == alone.messages[0]


@pytest.mark.parametrize("change", [records.turn, records.regeneration, records.edit])
async def test_the_head_follows_each_committed_turn(
    repository: ChatRepository, change: Callable[[Chat, str], TurnRecord]
) -> None:
    """Through a claim and a commit (the window cache's path, for the cached adapters): the
    head is the committed chat's, its latest message the turn's reply."""
    chat = records.new_chat(records.new_user(), exchanges=3, erased=1, version=2)
    await repository.add_chat(chat)
    key = records.new_id()
    window = await repository.claim_turn(chat.user_id, chat.id, records.claim(key))
    record = change(window, key)

    await repository.commit_turn(record)

    head = await repository.get_chat_head(chat.user_id, chat.id)
    after = record.applied_to(chat)
    assert head.chat == without_messages(after)
    assert head.latest == record.reply
    assert head.latest == next(m for m in reversed(after.messages) if not m.superseded)


async def test_the_head_leaves_the_chat_free_to_claim(repository: ChatRepository) -> None:
    chat = records.new_chat(records.new_user(), exchanges=1)
    await repository.add_chat(chat)

    await repository.get_chat_head(chat.user_id, chat.id)

    window = await repository.claim_turn(chat.user_id, chat.id, records.claim())
    assert window.messages == chat.messages


async def test_another_users_chat_and_an_unknown_one_have_no_head(
    repository: ChatRepository,
) -> None:
    chat = records.new_chat(records.new_user("owner"), exchanges=1)
    await repository.add_chat(chat)

    with pytest.raises(ChatNotFound):
        await repository.get_chat_head(records.new_user("intruder"), chat.id)
    with pytest.raises(ChatNotFound):
        await repository.get_chat_head(chat.user_id, records.new_id())
