"""The `ChatGateway` contract, for every adapter of the port."""

from __future__ import annotations

import asyncio

import pytest

from chatservice.adapters.fake_gateway import FakeChatGateway, ScriptedFailure
from chatservice.adapters.tiktoken_counter import TiktokenTokenCounter
from chatservice.application.ports import (
    ChatGateway,
    CompletionEnd,
    CompletionRequest,
    PromptMessage,
    TextDelta,
)
from chatservice.domain.chat import ChatParams
from chatservice.domain.errors import ProviderTimeout
from chatservice.domain.models import ModelRegistry

COUNTER = TiktokenTokenCounter()


def request(
    max_tokens: int = 200, last: str = "What is the capital of France?"
) -> CompletionRequest:
    return CompletionRequest(
        model=ModelRegistry().lookup("gpt-4o-mini"),
        messages=(PromptMessage("system", "Be helpful."), PromptMessage("user", last)),
        params=ChatParams(max_completion_tokens=max_tokens),
        request_id="req-1",
    )


@pytest.fixture(params=["fake"])
def gateway(request: pytest.FixtureRequest) -> ChatGateway:
    return FakeChatGateway(COUNTER)


async def events_of(
    gateway: ChatGateway, req: CompletionRequest
) -> list[TextDelta | CompletionEnd]:
    return [event async for event in gateway.stream(req)]


async def test_a_stream_is_text_deltas_then_exactly_one_end(gateway: ChatGateway) -> None:
    events = await events_of(gateway, request())
    *deltas, end = events
    assert deltas and all(isinstance(d, TextDelta) for d in deltas)
    assert isinstance(end, CompletionEnd)
    assert end.finish_reason == "stop"
    assert "".join(d.text for d in deltas if isinstance(d, TextDelta)).strip()


async def test_usage_counts_the_prompt_and_the_reply(gateway: ChatGateway) -> None:
    req = request()
    *deltas, end = await events_of(gateway, req)
    assert isinstance(end, CompletionEnd) and end.usage is not None
    text = "".join(d.text for d in deltas if isinstance(d, TextDelta))
    expected_prompt = 3 + sum(
        COUNTER.message_cost("o200k_base", m.role, m.content) for m in req.messages
    )
    assert end.usage.prompt_tokens == expected_prompt
    assert end.usage.completion_tokens == COUNTER.count("o200k_base", text)


async def test_a_reply_is_cut_at_max_completion_tokens(gateway: ChatGateway) -> None:
    *deltas, end = await events_of(gateway, request(max_tokens=4))
    assert isinstance(end, CompletionEnd)
    assert end.finish_reason == "length"
    text = "".join(d.text for d in deltas if isinstance(d, TextDelta))
    assert 0 < COUNTER.count("o200k_base", text) <= 4


async def test_the_same_prompt_gets_the_same_reply(gateway: ChatGateway) -> None:
    assert await events_of(gateway, request()) == await events_of(gateway, request())


async def test_closing_the_stream_early_is_clean(gateway: ChatGateway) -> None:
    stream = gateway.stream(request())
    first = await anext(stream)  # type: ignore[call-overload]
    assert isinstance(first, TextDelta)
    await stream.aclose()  # type: ignore[attr-defined]
    assert await events_of(gateway, request())


async def test_cancelling_the_consumer_stops_the_stream() -> None:
    gateway = FakeChatGateway(COUNTER, chunk_delay_seconds=0.05)
    received: list[object] = []

    async def consume() -> None:
        async for event in gateway.stream(request()):
            received.append(event)

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.12)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    count = len(received)
    await asyncio.sleep(0.15)
    assert 0 < count == len(received)


async def test_a_scripted_failure_raises_after_the_given_chunks() -> None:
    gateway = FakeChatGateway(COUNTER)
    gateway.fail_next(ScriptedFailure(ProviderTimeout("slow"), after_chunks=2))
    received: list[object] = []
    with pytest.raises(ProviderTimeout):
        async for event in gateway.stream(request()):
            received.append(event)
    assert len(received) == 2
    assert isinstance((await events_of(gateway, request()))[-1], CompletionEnd)
