"""A page of a conversation's items costs O(page), not O(history): `ListConversationItems`
reads the page (`ChatRepository.list_messages`), never the chat's whole history.

Two conversations end in the same 25 exchanges; before them, one has 25 erased exchanges and the
other 500. In either order, the first page and the page after it run the same statements and
read the same rows on both (measured by the database itself: `support/cost_meter.py`). Each
conversation holds more than two pages of erased messages and of the others, so that neither
page reaches an end of either: what a page reads is bounded by the page, and then the same.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from dependency_injector import providers
from sqlalchemy.ext.asyncio import AsyncEngine

from chatservice.application.conversations import ItemPage
from chatservice.domain.responses import conversation_id, item_id
from support import chat_records as records
from support.containers import service_container
from support.cost_meter import CostMeter

PAGE = 20
SHOWN_EXCHANGES = 25
SHORT_ERASED_EXCHANGES = 25
LONG_ERASED_EXCHANGES = 500


@pytest.mark.parametrize("newest_first", [True, False], ids=["desc", "asc"])
async def test_a_page_of_items_costs_the_same_behind_50_or_1000_erased_messages(
    cost_engine: AsyncEngine, newest_first: bool
) -> None:
    container = service_container({"engine": providers.Object(cost_engine)})
    repository, list_items = container.repository(), container.list_conversation_items()
    user = records.new_user("pages")
    short, long = (
        records.new_chat(user, exchanges=SHOWN_EXCHANGES + erased, erased=erased)
        for erased in (SHORT_ERASED_EXCHANGES, LONG_ERASED_EXCHANGES)
    )
    for chat in (short, long):
        await repository.add_chat(chat)

    async def two_pages(chat_id: str) -> AsyncIterator[ItemPage]:
        conversation = conversation_id(chat_id)
        first = await list_items(user, conversation, PAGE, None, newest_first)
        yield first
        after = item_id(first.items[-1].id)
        yield await list_items(user, conversation, PAGE, after, newest_first)

    meter = CostMeter(cost_engine)
    await meter.start()
    short_cost, short_pages = await meter.measure(two_pages(short.id))
    long_cost, long_pages = await meter.measure(two_pages(long.id))

    for pages in (short_pages, long_pages):
        shown = [(len(p.items), p.has_more) for p in pages if isinstance(p, ItemPage)]
        assert shown == [(PAGE, True), (PAGE, True)]
    assert long_cost.statements == short_cost.statements
    assert long_cost.rows_read == short_cost.rows_read
    assert sum(short_cost.rows_read.values()) > 0
