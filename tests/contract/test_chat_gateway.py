"""The `ChatGateway` contract, for every adapter of the port.

The OpenAI and Anthropic gateways run against local servers over real HTTP and SSE (an
OpenAI-compatible one, and one speaking Anthropic's Messages event protocol); the failures are
scripted there, at the HTTP level, and must come out as the same domain errors the fake raises.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest

from chatservice.adapters.anthropic_gateway import AnthropicChatGateway, AnthropicConfig
from chatservice.adapters.fake_gateway import FakeChatGateway, ScriptedFailure, StreamHold
from chatservice.adapters.tiktoken_counter import TiktokenTokenCounter
from chatservice.application.ports import (
    ChatGateway,
    CompletionEnd,
    CompletionRequest,
    PromptMessage,
    TextDelta,
)
from chatservice.domain.chat import ChatParams
from chatservice.domain.errors import MessageTooLong, ProviderTimeout, ProviderUnavailable
from chatservice.domain.models import ModelRegistry
from support.anthropic_server import Behaviour as Anthropic
from support.anthropic_server import running_anthropic_server
from support.containers import service_container
from support.openai_server import Behaviour, running_openai_server
from support.waiting import eventually

COUNTER = TiktokenTokenCounter()
#: What a provider that refuses a prompt as too long says it counted.
REFUSED_PROMPT_TOKENS = 10_034


@dataclass
class GatewayUnderTest:
    gateway: ChatGateway
    #: Make the next call fail: "unavailable", "timeout", "cut" (after two chunks), or
    #: "too_long" (the provider refuses the prompt, saying it counted `REFUSED_PROMPT_TOKENS`).
    fail_next: Callable[[str], None]
    #: How many streams were abandoned upstream (the consumer left before the end).
    abandoned_upstream: Callable[[], int]
    #: Stop the streams upstream after this many chunks, until released.
    hold: Callable[[int], StreamHold]


def _fake() -> GatewayUnderTest:
    fake = FakeChatGateway(COUNTER, chunk_delay_seconds=0)
    failures = {
        "unavailable": ScriptedFailure(ProviderUnavailable("scripted"), 0),
        "timeout": ScriptedFailure(ProviderTimeout("scripted"), 0),
        # A cut stream, as an adapter must report it (the use case also guards against an
        # adapter that just stops: ScriptedFailure(None, …) in tests/unit).
        "cut": ScriptedFailure(ProviderUnavailable("cut"), 2),
        "too_long": ScriptedFailure(MessageTooLong("too long", REFUSED_PROMPT_TOKENS), 0),
    }

    return GatewayUnderTest(
        fake, lambda kind: fake.fail_next(failures[kind]), lambda: fake.abandoned, fake.hold
    )


@asynccontextmanager
async def _openai() -> AsyncIterator[GatewayUnderTest]:
    async with running_openai_server() as server:
        gateway = service_container(
            gateway="openai",
            openai_base_url=server.base_url,
            # The timeout case waits this out; every other call must never come near it.
            openai_idle_timeout=2.0,
            openai_max_retries=0,
        ).gateway()
        failures = {
            "unavailable": Behaviour(status=503),
            "timeout": Behaviour(stall_before_response=True),
            "cut": Behaviour(cut_after=2),
            "too_long": Behaviour(
                status=400,
                error={
                    "message": (
                        "This model's maximum context length is 8192 tokens. However, you "
                        f"requested 10234 tokens ({REFUSED_PROMPT_TOKENS} in the messages, 200 "
                        "in the completion). Please reduce the length of the messages or "
                        "completion."
                    ),
                    "type": "invalid_request_error",
                    "code": "context_length_exceeded",
                },
            ),
        }
        yield GatewayUnderTest(
            gateway,
            lambda kind: server.then(failures[kind]),
            lambda: server.abandoned,
            server.hold,
        )
        await gateway.aclose()


@asynccontextmanager
async def _anthropic() -> AsyncIterator[GatewayUnderTest]:
    async with running_anthropic_server() as server:
        # The timeout case waits this out; every other call must never come near it.
        gateway = AnthropicChatGateway(
            AnthropicConfig(
                api_key="test-key", base_url=server.base_url, idle_timeout=2.0, max_retries=0
            )
        )
        failures = {
            "unavailable": Anthropic(status=529),
            # Stalled until the server stops: the gateway's idle timeout decides.
            "timeout": Anthropic(stall_after=0),
            "cut": Anthropic(cut_after=2),
            "too_long": Anthropic(
                status=400,
                error_message=f"prompt is too long: {REFUSED_PROMPT_TOKENS} tokens > 8192 maximum",
            ),
        }
        yield GatewayUnderTest(
            gateway,
            lambda kind: server.then(failures[kind]),
            lambda: server.abandoned,
            server.hold,
        )
        await gateway.aclose()


@pytest.fixture(params=["fake", "openai", "anthropic"])
async def under_test(request: pytest.FixtureRequest) -> AsyncIterator[GatewayUnderTest]:
    if request.param == "fake":
        yield _fake()
        return
    adapter = _openai() if request.param == "openai" else _anthropic()
    async with adapter as opened:
        yield opened


@pytest.fixture
def gateway(under_test: GatewayUnderTest) -> ChatGateway:
    return under_test.gateway


def request(
    max_tokens: int = 200, last: str = "What is the capital of France?"
) -> CompletionRequest:
    return CompletionRequest(
        model=ModelRegistry().lookup("gpt-4o-mini"),
        messages=(PromptMessage("system", "Be helpful."), PromptMessage("user", last)),
        params=ChatParams(max_completion_tokens=max_tokens),
        trace_id="req-1",
    )


async def events_of(
    gateway: ChatGateway, req: CompletionRequest
) -> list[TextDelta | CompletionEnd]:
    return [event async for event in gateway.stream(req)]


def text_of(events: list[TextDelta | CompletionEnd]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


async def test_a_stream_is_text_deltas_then_exactly_one_end(gateway: ChatGateway) -> None:
    *deltas, end = await events_of(gateway, request())
    assert deltas and all(isinstance(d, TextDelta) for d in deltas)
    assert isinstance(end, CompletionEnd)
    assert end.finish_reason == "stop"
    assert text_of(deltas).strip()


async def test_usage_counts_the_prompt_and_the_reply(gateway: ChatGateway) -> None:
    req = request()
    events = await events_of(gateway, req)
    end = events[-1]
    assert isinstance(end, CompletionEnd) and end.usage is not None
    expected_prompt = 3 + sum(
        COUNTER.message_cost("o200k_base", m.role, m.content) for m in req.messages
    )
    assert end.usage.prompt_tokens == expected_prompt
    assert end.usage.completion_tokens == COUNTER.count("o200k_base", text_of(events))


async def test_a_reply_is_cut_at_max_completion_tokens(gateway: ChatGateway) -> None:
    events = await events_of(gateway, request(max_tokens=4))
    end = events[-1]
    assert isinstance(end, CompletionEnd)
    assert end.finish_reason == "length"
    assert 0 < COUNTER.count("o200k_base", text_of(events)) <= 4


async def test_the_same_prompt_gets_the_same_reply(gateway: ChatGateway) -> None:
    assert await events_of(gateway, request()) == await events_of(gateway, request())


async def test_closing_the_stream_early_abandons_it_upstream(under_test: GatewayUnderTest) -> None:
    hold = under_test.hold(1)
    stream = under_test.gateway.stream(request())
    assert isinstance(await anext(stream), TextDelta)
    await stream.aclose()
    await eventually(lambda: under_test.abandoned_upstream() == 1, "the stream was abandoned")
    hold.release()


async def test_cancelling_the_consumer_stops_the_stream(under_test: GatewayUnderTest) -> None:
    hold = under_test.hold(1)
    received: list[object] = []

    async def consume() -> None:
        async for event in under_test.gateway.stream(request()):
            received.append(event)

    task = asyncio.create_task(consume())
    await eventually(lambda: bool(received), "the consumer received a chunk")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await eventually(lambda: under_test.abandoned_upstream() == 1, "the stream was abandoned")
    hold.release()


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        ("unavailable", ProviderUnavailable),
        ("timeout", ProviderTimeout),
        ("cut", ProviderUnavailable),
    ],
)
async def test_failures_come_out_as_domain_errors(
    under_test: GatewayUnderTest, kind: str, error: type[Exception]
) -> None:
    under_test.fail_next(kind)
    received: list[object] = []
    with pytest.raises(error):
        async for event in under_test.gateway.stream(request()):
            received.append(event)
    assert not any(isinstance(e, CompletionEnd) for e in received)
    assert isinstance((await events_of(under_test.gateway, request()))[-1], CompletionEnd)


async def test_a_prompt_refused_as_too_long_says_what_the_provider_counted(
    under_test: GatewayUnderTest,
) -> None:
    under_test.fail_next("too_long")
    with pytest.raises(MessageTooLong) as refused:
        await events_of(under_test.gateway, request())
    assert refused.value.provider_prompt_tokens == REFUSED_PROMPT_TOKENS
