"""The fake model's controls that tests steer timing with: a hold and a scripted failure."""

from __future__ import annotations

import asyncio

import pytest

from chatservice.adapters.fake_gateway import FakeChatGateway, ScriptedFailure
from chatservice.application.ports import CompletionEnd, CompletionRequest, PromptMessage, TextDelta
from chatservice.domain.chat import ChatParams
from chatservice.domain.errors import ProviderUnavailable
from chatservice.domain.models import ModelRegistry
from support.services import COUNTER

REQUEST = CompletionRequest(
    model=ModelRegistry().lookup("gpt-4o-mini"),
    messages=(PromptMessage("user", "one two three four five six"),),
    params=ChatParams(max_completion_tokens=200),
    trace_id="r1",
)


async def consume(fake: FakeChatGateway, received: list[object]) -> None:
    async for event in fake.stream(REQUEST):
        received.append(event)


async def test_a_held_stream_stops_after_its_chunks_until_the_hold_moves_or_is_released() -> None:
    fake = FakeChatGateway(COUNTER, chunk_delay_seconds=0)
    hold = fake.hold(after_chunks=2)
    received: list[object] = []
    consumer = asyncio.create_task(consume(fake, received))
    await hold.reached()
    assert len(received) == 2
    hold.move_to(4)
    await hold.reached()
    assert len(received) == 4
    hold.release()
    await consumer
    assert isinstance(received[-1], CompletionEnd)
    assert len(received) > 5


async def test_a_stream_already_past_the_hold_is_not_stopped() -> None:
    fake = FakeChatGateway(COUNTER, chunk_delay_seconds=0)
    stream = fake.stream(REQUEST)
    await anext(stream)
    await anext(stream)
    fake.hold(after_chunks=1)
    rest = [event async for event in stream]
    assert isinstance(rest[-1], CompletionEnd)


async def test_a_stream_left_while_held_is_no_longer_counted_as_waiting() -> None:
    fake = FakeChatGateway(COUNTER, chunk_delay_seconds=0)
    hold = fake.hold(after_chunks=1)
    stream = fake.stream(REQUEST)
    assert isinstance(await anext(stream), TextDelta)
    waiting = asyncio.create_task(anext(stream))
    await hold.reached()
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert fake.abandoned == 1
    with pytest.raises(TimeoutError):  # no stream is there to come
        await hold.reached(within=0.05)


async def test_a_failure_scripted_at_the_hold_comes_once_the_hold_is_released() -> None:
    fake = FakeChatGateway(COUNTER, chunk_delay_seconds=0)
    hold = fake.hold(after_chunks=2)
    fake.fail_next(ScriptedFailure(ProviderUnavailable("scripted"), after_chunks=2))
    received: list[object] = []
    consumer = asyncio.create_task(consume(fake, received))
    await hold.reached()
    hold.release()
    with pytest.raises(ProviderUnavailable):
        await consumer
    assert len(received) == 2
