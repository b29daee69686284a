"""Conversations over the in-memory stores: bad items are refused before anything is stored."""

from __future__ import annotations

import pytest
from dependency_injector import providers

from chatservice.domain.chat import Chat
from chatservice.domain.errors import InvalidInput
from chatservice.domain.responses import InputMessage, conversation_id, item_id
from support.containers import provided
from support.services import Service, WatchedRepository, build_service


class CountingRepository(WatchedRepository):
    """Counts the chats ever added, so a test sees a chat that was stored and then removed."""

    def __init__(self) -> None:
        super().__init__()
        self.added = 0

    async def add_chat(self, chat: Chat) -> None:
        self.added += 1
        await super().add_chat(chat)


@pytest.fixture
def service() -> Service:
    return build_service({"repository": providers.Singleton(CountingRepository)})


async def test_a_conversation_with_an_item_too_long_is_refused_before_its_chat_is_made(
    service: Service,
) -> None:
    too_long = "x" * (service.policy.max_message_chars + 1)
    with pytest.raises(InvalidInput, match="item content"):
        await service.container.create_conversation()(
            "ada", items=[InputMessage("user", "hello"), InputMessage("assistant", too_long)]
        )
    repository = provided(service.container.repository, CountingRepository)
    assert repository.added == 0
    assert (await service.container.list_chats()("ada")).items == []


async def test_a_conversation_with_fitting_items_holds_them_in_order(service: Service) -> None:
    made = await service.container.create_conversation()(
        "ada", items=[InputMessage("user", "hello"), InputMessage("assistant", "hi there")]
    )
    chat = await service.repository.get_chat("ada", made.chat.id)
    assert [(m.role.value, m.content) for m in chat.messages[1:]] == [
        ("user", "hello"),
        ("assistant", "hi there"),
    ]


async def test_items_come_a_page_at_a_time_and_say_when_there_are_more(service: Service) -> None:
    said = [InputMessage("user", "1"), InputMessage("assistant", "2"), InputMessage("user", "3")]
    made = await service.container.create_conversation()("ada", items=said)
    list_items = service.container.list_conversation_items()

    conversation = conversation_id(made.chat.id)
    first = await list_items("ada", conversation, limit=2, newest_first=False)
    after = item_id(first.items[-1].id)
    rest = await list_items("ada", conversation, limit=2, after=after, newest_first=False)

    assert [m.content for m in first.items] == ["1", "2"] and first.has_more
    assert [m.content for m in rest.items] == ["3"] and not rest.has_more


async def test_a_page_after_an_item_the_conversation_does_not_show_is_refused(
    service: Service,
) -> None:
    made = await service.container.create_conversation()("ada")
    system = (await service.repository.get_chat("ada", made.chat.id)).messages[0]
    list_items = service.container.list_conversation_items()

    for after in (item_id(system.id), item_id("no-such-message"), "not-an-item"):
        with pytest.raises(InvalidInput, match=r"after|item id"):
            await list_items("ada", conversation_id(made.chat.id), after=after)
