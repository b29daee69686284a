"""Exporting a user's chats page by page, and the rules an imported chat must keep."""

from __future__ import annotations

from dataclasses import replace

import pytest

from chatservice.adapters.memory_repository.repository import InMemoryChatRepository
from chatservice.application.calibration import TokenCalibration
from chatservice.application.chat_window import ChatWindow
from chatservice.application.exports import ExportUserChats
from chatservice.domain.chat import Message, Role
from chatservice.domain.errors import InvalidInput
from chatservice.domain.export import check_importable
from chatservice.domain.models import ModelRegistry
from support.chat_records import message, new_chat, new_user

WINDOW = ChatWindow(ModelRegistry(), TokenCalibration())


async def test_a_users_export_reads_every_chat_once_across_pages_and_no_one_elses() -> None:
    repository = InMemoryChatRepository()
    user = new_user()
    chats = [new_chat(user, exchanges=i) for i in range(5)]
    for chat in [*chats, new_chat(new_user())]:
        await repository.add_chat(chat)

    exported = [view async for view in ExportUserChats(repository, WINDOW, page_size=2)(user)]

    assert sorted((v.chat for v in exported), key=lambda c: c.id) == sorted(
        chats, key=lambda c: c.id
    )
    assert all(v.window == WINDOW(v.chat) for v in exported)


async def test_a_chat_deleted_while_the_export_runs_is_left_out() -> None:
    repository = InMemoryChatRepository()
    user = new_user()
    chats = sorted([new_chat(user) for _ in range(3)], key=lambda c: c.id)
    for chat in chats:
        await repository.add_chat(chat)
    export = ExportUserChats(repository, WINDOW, page_size=10)(user)

    first = await anext(export)
    await repository.delete_chat(user, chats[1].id)
    rest = [view async for view in export]

    assert [first.chat.id, *(v.chat.id for v in rest)] == [chats[0].id, chats[2].id]


def _cost(m: Message) -> int:
    return m.tokens


def test_a_chat_as_the_service_writes_it_is_importable() -> None:
    check_importable(new_chat(new_user(), exchanges=2, erased=1), 1000, _cost)


@pytest.mark.parametrize(
    "spoil",
    [
        lambda ms: ms.append(message(9, Role.USER)),
        lambda ms: ms.__setitem__(1, replace(ms[1], role=Role.SYSTEM)),
        lambda ms: ms.__setitem__(0, replace(ms[0], superseded=True)),
        lambda ms: ms.__setitem__(1, replace(ms[1], erased=True, superseded=True)),
        lambda ms: ms.__setitem__(1, replace(ms[1], model="gpt-4o")),
        lambda ms: ms.__setitem__(2, replace(ms[2], prompt_tokens=-1)),
        lambda ms: ms.__setitem__(2, replace(ms[2], content="x" * 1001)),
    ],
)
def test_an_inconsistent_chat_is_refused(spoil: object) -> None:
    chat = new_chat(new_user(), exchanges=1)
    spoil(chat.messages)  # type: ignore[operator]
    with pytest.raises(InvalidInput):
        check_importable(chat, 1000, _cost)


def test_token_counts_must_be_the_services_own() -> None:
    chat = new_chat(new_user(), exchanges=1)
    with pytest.raises(InvalidInput, match="tokens"):
        check_importable(chat, 1000, lambda m: m.tokens + 1)
