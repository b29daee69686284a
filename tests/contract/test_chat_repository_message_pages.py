"""The `ChatRepository` contract for a page of a chat's messages (`list_messages`): its user and
assistant messages not superseded, erased ones included, a page at a time in either order, which
the OpenAI surface lists as a conversation's items. Held against every adapter (conftest.py);
its cost is tests/integration/test_item_page_cost.py's business."""

from __future__ import annotations

import pytest

from chatservice.application.ports import ChatRepository
from chatservice.domain.chat import Chat
from chatservice.domain.errors import ChatNotFound, MessageNotFound
from support import chat_records as records

#: `history_of_versions`: 0 system · 1 2 erased · 3 · 4 superseded by 5 · 6 7.
SHOWN_POSITIONS = [1, 2, 3, 5, 6, 7]


async def stored_history(repository: ChatRepository) -> Chat:
    chat = records.history_of_versions(records.new_user())
    await repository.add_chat(chat)
    return chat


def positions(chat: Chat, ids: list[str]) -> list[int]:
    by_id = {m.id: m.position for m in chat.messages}
    return [by_id[message_id] for message_id in ids]


@pytest.mark.parametrize("newest_first", [False, True])
async def test_a_page_is_the_messages_not_superseded_nor_system_in_order(
    repository: ChatRepository, newest_first: bool
) -> None:
    chat = await stored_history(repository)

    page = await repository.list_messages(chat.user_id, chat.id, 10, None, newest_first)

    expected = sorted(SHOWN_POSITIONS, reverse=newest_first)
    assert page == [m for p in expected for m in chat.messages if m.position == p]


@pytest.mark.parametrize("newest_first", [False, True])
async def test_pages_after_a_message_go_on_from_it_and_hold_every_message_once(
    repository: ChatRepository, newest_first: bool
) -> None:
    chat = await stored_history(repository)
    seen: list[str] = []
    after: str | None = None
    while True:
        page = await repository.list_messages(chat.user_id, chat.id, 2, after, newest_first)
        seen += [m.id for m in page]
        if len(page) < 2:
            break
        after = page[-1].id

    assert positions(chat, seen) == sorted(SHOWN_POSITIONS, reverse=newest_first)


async def test_a_page_holds_no_more_than_its_limit(repository: ChatRepository) -> None:
    chat = await stored_history(repository)

    newest = await repository.list_messages(chat.user_id, chat.id, 3, None, True)
    oldest = await repository.list_messages(chat.user_id, chat.id, 1, None, False)

    assert positions(chat, [m.id for m in newest]) == [7, 6, 5]
    assert positions(chat, [m.id for m in oldest]) == [1]


async def test_a_page_after_a_message_not_listed_is_message_not_found(
    repository: ChatRepository,
) -> None:
    chat = await stored_history(repository)
    other = await stored_history(repository)
    system, superseded = chat.messages[0], chat.messages[4]
    assert superseded.superseded
    for after in (system.id, superseded.id, other.messages[1].id, records.new_id()):
        with pytest.raises(MessageNotFound):
            await repository.list_messages(chat.user_id, chat.id, 5, after, True)


async def test_another_users_chat_is_not_found_whatever_the_page(
    repository: ChatRepository,
) -> None:
    chat = await stored_history(repository)
    for after in (None, chat.messages[1].id):
        with pytest.raises(ChatNotFound):
            await repository.list_messages("someone-else", chat.id, 5, after, False)
        with pytest.raises(ChatNotFound):
            await repository.list_messages(chat.user_id, records.new_id(), 5, after, False)


async def test_an_empty_conversation_has_an_empty_page(repository: ChatRepository) -> None:
    chat = records.new_chat(records.new_user())
    await repository.add_chat(chat)

    assert await repository.list_messages(chat.user_id, chat.id, 5, None, True) == []
