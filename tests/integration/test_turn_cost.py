"""The cost of a turn is O(window), not O(history) (docs/architecture.md), on /v1 and on the
OpenAI Responses surface alike.

Two chats hold the same context window, one behind 5 exchanges and one behind 500 (all but the
last few erased, as a long conversation leaves them). One more turn on each must run the same
statements and read the same number of rows; for a response, that includes learning its chat's
model and whether the response it continues is still the chat's latest. Rows read are
measured by the database itself (`support/cost_meter.py`).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from dependency_injector import providers
from sqlalchemy.ext.asyncio import AsyncEngine

from chatservice.application.responses import NewResponse
from chatservice.application.turn_events import Completed
from chatservice.domain.chat import Chat, Message
from chatservice.domain.responses import RESPONSE_PREFIX, ResponseRecord, conversation_id
from support.containers import service_container
from support.cost_meter import Cost, CostMeter

#: A terse chat in a window small enough that a few turns erase the oldest exchanges.
SMALL_WINDOW = {
    "system_message": "You are terse.",
    "max_completion_tokens": 40,
    "context_window": 160,
}

SHORT_HISTORY_EXCHANGES = 5
LONG_HISTORY_EXCHANGES = 500


def with_long_history(short: Chat, exchanges: int) -> Chat:
    """A copy of `short` (full history) with `exchanges` more erased exchanges before its own."""
    system, *rest = short.messages
    filler: list[Message] = []
    for index in range(exchanges):
        for offset, template in enumerate(rest[:2]):
            filler.append(
                replace(
                    template,
                    id=str(uuid.uuid4()),
                    position=1 + 2 * index + offset,
                    erased=True,
                    idempotency_key=str(uuid.uuid4()) if template.idempotency_key else None,
                )
            )
    shifted = [replace(m, id=str(uuid.uuid4()), position=m.position + 2 * exchanges) for m in rest]
    system = replace(system, id=str(uuid.uuid4()))
    return replace(short, id=str(uuid.uuid4()), messages=[system, *filler, *shifted])


def assert_same_turn_at_the_same_cost(
    short: tuple[Cost, list[object]], long: tuple[Cost, list[object]]
) -> None:
    """The same erasing turn on both chats, run by the same statements reading the same rows."""
    (short_cost, short_events), (long_cost, long_events) = short, long
    short_done, long_done = short_events[-1], long_events[-1]
    assert isinstance(short_done, Completed)
    assert isinstance(long_done, Completed)
    assert short_done.erased == long_done.erased > 0, "the turn erases, so the UPDATE runs"
    assert short_done.reply.content == long_done.reply.content
    assert long_cost.statements == short_cost.statements
    assert long_cost.rows_read == short_cost.rows_read
    assert sum(short_cost.rows_read.values()) > 0


async def test_a_turn_costs_the_same_behind_10_or_1000_stored_messages(
    cost_engine: AsyncEngine,
) -> None:
    container = service_container(
        {"engine": providers.Object(cost_engine)},
        # Without the window cache: every claim reads the window, the read this test is about.
        window_cache_mb=0,
        **SMALL_WINDOW,
    )
    repository, send = container.repository(), container.send_message()
    user = f"cost-{uuid.uuid4().hex[:12]}"
    short = (await container.start_chat()(user)).chat
    for index in range(SHORT_HISTORY_EXCHANGES):
        _ = [e async for e in send(user, short.id, f"message number {index}")]
    short = await repository.get_chat(user, short.id)
    long = with_long_history(short, LONG_HISTORY_EXCHANGES - SHORT_HISTORY_EXCHANGES)
    await repository.add_chat(long)
    assert len(short.messages) == 1 + 2 * SHORT_HISTORY_EXCHANGES
    assert len(long.messages) == 1 + 2 * LONG_HISTORY_EXCHANGES
    assert any(m.erased for m in short.messages), "the window must be small enough to erase"

    meter = CostMeter(cost_engine)
    await meter.start()
    short_cost, short_events = await meter.measure(send(user, short.id, "one more"))
    long_cost, long_events = await meter.measure(send(user, long.id, "one more"))

    assert_same_turn_at_the_same_cost((short_cost, short_events), (long_cost, long_events))


@pytest.mark.parametrize("way", ["previous_response_id", "conversation"])
async def test_a_responses_turn_costs_the_same_behind_10_or_1000_stored_messages(
    cost_engine: AsyncEngine, way: str
) -> None:
    """A response continuing the chat's latest (by `previous_response_id`, or naming the
    chat's `conversation`) reads the chat's head, not its history."""
    container = service_container(
        {"engine": providers.Object(cost_engine)}, window_cache_mb=0, **SMALL_WINDOW
    )
    repository, store, create = (
        container.repository(),
        container.response_store(),
        container.create_response(),
    )
    user = f"cost-{uuid.uuid4().hex[:12]}"
    previous: ResponseRecord | None = None
    for index in range(SHORT_HISTORY_EXCHANGES):
        started = await create(
            NewResponse(
                user,
                f"message number {index}",
                previous_response_id=previous.id if previous else None,
            )
        )
        assert started.events is not None
        _ = [e async for e in started.events]
        previous = started.record
    assert previous is not None
    short = await repository.get_chat(user, previous.chat_id)
    # The long chat keeps the short one's idempotency keys for its own turns, so a copy of the
    # latest response's record, pointing at it, names its latest reply.
    long = with_long_history(short, LONG_HISTORY_EXCHANGES - SHORT_HISTORY_EXCHANGES)
    await repository.add_chat(long)
    long_previous = replace(previous, id=RESPONSE_PREFIX + uuid.uuid4().hex, chat_id=long.id)
    await store.add_response(long_previous)
    assert len(short.messages) == 1 + 2 * SHORT_HISTORY_EXCHANGES
    assert len(long.messages) == 1 + 2 * LONG_HISTORY_EXCHANGES
    assert any(m.erased for m in short.messages), "the window must be small enough to erase"

    async def one_more(continued: ResponseRecord) -> AsyncIterator[object]:
        if way == "conversation":
            new = NewResponse(user, "one more", conversation=conversation_id(continued.chat_id))
        else:
            new = NewResponse(user, "one more", previous_response_id=continued.id)
        started = await create(new)
        assert started.record.chat_id == continued.chat_id, "the latest is continued, not forked"
        assert started.events is not None
        async for turn_event in started.events:
            yield turn_event

    meter = CostMeter(cost_engine)
    await meter.start()
    short_cost, short_events = await meter.measure(one_more(previous))
    long_cost, long_events = await meter.measure(one_more(long_previous))

    assert_same_turn_at_the_same_cost((short_cost, short_events), (long_cost, long_events))
