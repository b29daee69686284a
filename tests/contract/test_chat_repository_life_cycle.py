"""The `ChatRepository` contract for a user's data as a whole (export, erasure, retention,
search), held against every adapter: in memory, SQLite and MariaDB (conftest.py)."""

from __future__ import annotations

from chatservice.application.ports import ChatRepository
from support.chat_records import new_chat, new_user


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
