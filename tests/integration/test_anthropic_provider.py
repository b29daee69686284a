"""`AnthropicChatGateway` against a local server speaking Anthropic's Messages event protocol.

What the contract suite (tests/contract/test_chat_gateway.py) holds every gateway to is not
repeated here; these are Anthropic's own shapes: the request it is sent, the usage arithmetic,
each stop reason, and each failure, the `error` event after an HTTP 200 included.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from chatservice.adapters.anthropic_gateway import AnthropicChatGateway, AnthropicConfig
from chatservice.application.ports import (
    CompletionEnd,
    CompletionRequest,
    PromptMessage,
    TextDelta,
)
from chatservice.domain.chat import ChatParams
from chatservice.domain.errors import (
    MessageTooLong,
    ProviderRateLimited,
    ProviderRejected,
    ProviderTimeout,
    ProviderUnavailable,
)
from chatservice.domain.models import ModelSpec
from support.anthropic_server import (
    COUNTER,
    ENCODING,
    AnthropicMessagesServer,
    Behaviour,
    prompt_tokens,
    running_anthropic_server,
)
from support.process import free_port

KEY = "sk-ant-local-test-key"
#: Long enough that only a provider that stopped answering reaches it.
IDLE_TIMEOUT = 2.0
#: Generous: only an event that never comes waits this long.
WITHIN = 30.0
CLAUDE = ModelSpec(
    "claude-haiku-4-5", 200_000, 64_000, "o200k_base", 8_192, sampling_params=frozenset({"stop"})
)


@pytest.fixture
async def upstream() -> AsyncIterator[AnthropicMessagesServer]:
    async with running_anthropic_server() as server:
        yield server


def gateway_for(server: AnthropicMessagesServer, max_retries: int = 0) -> AnthropicChatGateway:
    return AnthropicChatGateway(
        AnthropicConfig(
            api_key=KEY,
            base_url=server.base_url,
            idle_timeout=IDLE_TIMEOUT,
            max_retries=max_retries,
        )
    )


@pytest.fixture
async def gateway(upstream: AnthropicMessagesServer) -> AsyncIterator[AnthropicChatGateway]:
    opened = gateway_for(upstream)
    yield opened
    await opened.aclose()


def request(
    *messages: tuple[str, str],
    model: ModelSpec = CLAUDE,
    params: ChatParams | None = None,
) -> CompletionRequest:
    prompt = messages or (("system", "Be brief."), ("user", "Bonjour 🙂"))
    return CompletionRequest(
        model=model,
        messages=tuple(PromptMessage(role, content) for role, content in prompt),
        params=params or ChatParams(max_completion_tokens=300),
        trace_id="req-anthropic-1",
    )


async def reply_of(
    gateway: AnthropicChatGateway, req: CompletionRequest
) -> tuple[str, CompletionEnd]:
    events = [event async for event in gateway.stream(req)]
    *deltas, end = events
    assert all(isinstance(d, TextDelta) for d in deltas) and isinstance(end, CompletionEnd)
    return "".join(d.text for d in deltas if isinstance(d, TextDelta)), end


async def test_the_system_message_goes_top_level_and_the_turns_follow_in_order(
    gateway: AnthropicChatGateway, upstream: AnthropicMessagesServer
) -> None:
    text, _ = await reply_of(
        gateway,
        request(
            ("system", "Answer in French."),
            ("user", "Hello"),
            ("assistant", "Bonjour"),
            ("user", "How are you?"),
        ),
    )
    assert text == "Echo: How are you?"
    sent = upstream.received[-1]
    assert sent.body["system"] == "Answer in French."
    assert sent.body["messages"] == [
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Bonjour"},
        {"role": "user", "content": "How are you?"},
    ]
    assert sent.body["model"] == "claude-haiku-4-5"
    assert sent.body["stream"] is True
    # SDK 2.x sends the key as a bearer token, with its Messages API version (2026-10-21).
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.headers["anthropic-version"]
    assert sent.headers["x-request-id"] == "req-anthropic-1"


async def test_several_system_messages_are_joined_into_the_one_system_text(
    gateway: AnthropicChatGateway, upstream: AnthropicMessagesServer
) -> None:
    await reply_of(
        gateway,
        request(
            ("system", "Answer in French."),
            ("system", "Earlier, the user said their name is Ada."),
            ("user", "Who am I?"),
        ),
    )
    sent = upstream.received[-1].body
    assert sent["system"] == "Answer in French.\n\nEarlier, the user said their name is Ada."
    assert sent["messages"] == [{"role": "user", "content": "Who am I?"}]


async def test_an_empty_system_message_sends_no_system_field(
    gateway: AnthropicChatGateway, upstream: AnthropicMessagesServer
) -> None:
    await reply_of(gateway, request(("system", ""), ("user", "hi")))
    assert "system" not in upstream.received[-1].body


async def test_consecutive_messages_of_one_role_become_one_turn(
    gateway: AnthropicChatGateway, upstream: AnthropicMessagesServer
) -> None:
    await reply_of(
        gateway,
        request(
            ("system", "Be brief."),
            ("user", "first"),
            ("assistant", "one"),
            ("assistant", "two"),
            ("user", "second"),
            ("user", "third"),
        ),
    )
    assert upstream.received[-1].body["messages"] == [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "one\n\ntwo"},
        {"role": "user", "content": "second\n\nthird"},
    ]


async def test_max_tokens_is_always_sent_and_of_the_sampling_parameters_only_stop(
    gateway: AnthropicChatGateway, upstream: AnthropicMessagesServer
) -> None:
    await reply_of(gateway, request(params=ChatParams(max_completion_tokens=500, stop=("END",))))
    sent = upstream.received[-1].body
    assert sent["max_tokens"] == 500
    assert sent["stop_sequences"] == ["END"]
    await reply_of(gateway, request(params=ChatParams(max_completion_tokens=64)))
    sent = upstream.received[-1].body
    assert sent["max_tokens"] == 64 and "stop_sequences" not in sent


async def test_sampling_parameters_the_messages_api_refuses_are_never_sent(
    gateway: AnthropicChatGateway, upstream: AnthropicMessagesServer
) -> None:
    # Even for a model declared (wrongly) as taking them: since API version 2026-10-21 a
    # temperature or top_p is a 400 on every model, and penalties never existed.
    lenient = ModelSpec("claude-custom", 200_000, 64_000, "o200k_base", 8_192)
    params = ChatParams(
        max_completion_tokens=500,
        temperature=0.3,
        top_p=0.9,
        presence_penalty=0.5,
        frequency_penalty=0.5,
        stop=("END",),
    )
    await reply_of(gateway, request(model=lenient, params=params))
    sent = upstream.received[-1].body
    assert sent["stop_sequences"] == ["END"]
    assert not {
        "temperature",
        "top_p",
        "top_k",
        "presence_penalty",
        "frequency_penalty",
        "stop",
        "max_completion_tokens",
    } & set(sent)


async def test_the_prompt_counts_input_cache_writes_and_cache_reads(
    gateway: AnthropicChatGateway, upstream: AnthropicMessagesServer
) -> None:
    upstream.then(Behaviour(cache_read=7, cache_creation=4))
    text, end = await reply_of(gateway, request())
    assert end.usage is not None
    assert end.usage.prompt_tokens == prompt_tokens(upstream.received[-1].body)
    assert end.cached_prompt_tokens == 7
    assert end.usage.completion_tokens == COUNTER.count(ENCODING, text)


async def test_output_tokens_are_cumulative_so_the_last_count_is_taken_not_a_sum(
    gateway: AnthropicChatGateway, upstream: AnthropicMessagesServer
) -> None:
    upstream.then(Behaviour(reply="one two three four five six", interim_usage=True))
    text, end = await reply_of(gateway, request())
    assert end.usage is not None
    assert end.usage.completion_tokens == COUNTER.count(ENCODING, text)
    assert end.cached_prompt_tokens == 0


async def test_only_text_deltas_make_the_reply_not_thinking_or_pings(
    gateway: AnthropicChatGateway, upstream: AnthropicMessagesServer
) -> None:
    thinking = "The user greets me; I should echo them."
    upstream.then(Behaviour(thinking=thinking, pings=True))
    text, end = await reply_of(gateway, request())
    assert text == "Echo: Bonjour 🙂"
    assert end.finish_reason == "stop"
    # Anthropic bills the thinking as output, and the usage says so.
    assert end.usage is not None
    assert end.usage.completion_tokens == COUNTER.count(ENCODING, thinking) + COUNTER.count(
        ENCODING, text
    )


@pytest.mark.parametrize(
    ("behaviour", "params", "finish_reason", "text"),
    [
        (Behaviour(), None, "stop", "Echo: Bonjour 🙂"),
        (
            Behaviour(reply="Paris. END of answer"),
            ChatParams(max_completion_tokens=300, stop=("END",)),
            "stop",
            "Paris. ",
        ),
        (Behaviour(reply="one two three four five"), ChatParams(3), "length", "one two "),
        (
            Behaviour(reply="I can't help with that.", stop_reason="refusal"),
            None,
            "content_filter",
            None,
        ),
    ],
    ids=["end_turn", "stop_sequence", "max_tokens", "refusal"],
)
async def test_each_stop_reason_becomes_its_finish_reason(
    gateway: AnthropicChatGateway,
    upstream: AnthropicMessagesServer,
    behaviour: Behaviour,
    params: ChatParams | None,
    finish_reason: str,
    text: str | None,
) -> None:
    upstream.then(behaviour)
    reply, end = await reply_of(gateway, request(params=params))
    assert end.finish_reason == finish_reason
    assert reply == (text if text is not None else behaviour.reply)


@pytest.mark.parametrize(
    ("stop_reason", "error"),
    [
        ("model_context_window_exceeded", MessageTooLong),
        ("tool_use", ProviderUnavailable),
        ("pause_turn", ProviderUnavailable),
    ],
)
async def test_a_stop_reason_that_leaves_no_finished_reply_is_an_error(
    gateway: AnthropicChatGateway,
    upstream: AnthropicMessagesServer,
    stop_reason: str,
    error: type[Exception],
) -> None:
    upstream.then(Behaviour(stop_reason=stop_reason))
    received: list[object] = []
    with pytest.raises(error):
        async for event in gateway.stream(request()):
            received.append(event)
    assert received and not any(isinstance(e, CompletionEnd) for e in received)


PROMPT_TOO_LONG = "prompt is too long: 208656 tokens > 200000 maximum"
WINDOW_TOO_SMALL = (
    "input length and `max_tokens` exceed context limit: 197626 + 8192 > 200000, decrease input "
    "length or `max_tokens` and try again"
)

FAILURES = [
    (Behaviour(status=401), ProviderRejected),
    (Behaviour(status=403), ProviderRejected),
    (Behaviour(status=429, headers={"retry-after": "7"}), ProviderRateLimited),
    (Behaviour(status=529), ProviderUnavailable),
    (Behaviour(status=500), ProviderUnavailable),
    (Behaviour(status=400, error_message=PROMPT_TOO_LONG), MessageTooLong),
    (Behaviour(status=400, error_message=WINDOW_TOO_SMALL), MessageTooLong),
    (Behaviour(status=400, error_message="temperature: range is 0 to 1"), ProviderRejected),
    (Behaviour(stall_after=0), ProviderTimeout),
    (Behaviour(stall_after=2), ProviderTimeout),
    (Behaviour(cut_after=2), ProviderUnavailable),
    (Behaviour(malformed_after=1), ProviderUnavailable),
    (Behaviour(stop_reason=None), ProviderUnavailable),
    (Behaviour(message_stop=False), ProviderUnavailable),
    (Behaviour(reply=""), ProviderUnavailable),
    (Behaviour(error_after=2, error_type="overloaded_error"), ProviderUnavailable),
    (Behaviour(error_after=2, error_type="api_error"), ProviderUnavailable),
    (Behaviour(error_after=2, error_type="rate_limit_error"), ProviderRateLimited),
    (
        Behaviour(error_after=2, error_type="invalid_request_error", error_message=PROMPT_TOO_LONG),
        MessageTooLong,
    ),
    (
        Behaviour(error_after=2, error_type="invalid_request_error", error_message="bad input"),
        ProviderRejected,
    ),
    (Behaviour(error_after=2, error_type="something_new"), ProviderUnavailable),
]
FAILURE_IDS = [
    "401",
    "403",
    "429",
    "529-overloaded",
    "500",
    "400-prompt-too-long",
    "400-context-limit",
    "400-other",
    "slow-first-byte",
    "stalled-stream",
    "cut",
    "malformed",
    "no-stop-reason",
    "no-message-stop",
    "empty-reply",
    "error-event-overloaded",
    "error-event-api-error",
    "error-event-rate-limit",
    "error-event-prompt-too-long",
    "error-event-invalid-request",
    "error-event-unknown-type",
]


@pytest.mark.parametrize(("behaviour", "error"), FAILURES, ids=FAILURE_IDS)
async def test_each_upstream_failure_becomes_its_domain_error(
    gateway: AnthropicChatGateway,
    upstream: AnthropicMessagesServer,
    behaviour: Behaviour,
    error: type[Exception],
) -> None:
    upstream.then(behaviour)
    received: list[object] = []
    with pytest.raises(error) as raised:
        async for event in gateway.stream(request()):
            received.append(event)
    assert not any(isinstance(e, CompletionEnd) for e in received)
    if behaviour.error_after is not None:
        # The error event came after an HTTP 200 and the deltas before it.
        assert "".join(e.text for e in received if isinstance(e, TextDelta)) == "Echo: Bonjour "
    if isinstance(raised.value, ProviderRateLimited):
        expected = 7.0 if behaviour.status == 429 else None
        assert raised.value.retry_after_seconds == expected
    # The gateway is still good for the next call.
    assert (await reply_of(gateway, request()))[0] == "Echo: Bonjour 🙂"


async def test_an_unreachable_provider_is_unavailable() -> None:
    closed = AnthropicChatGateway(
        AnthropicConfig(api_key=KEY, base_url=f"http://127.0.0.1:{free_port()}", max_retries=0)
    )
    with pytest.raises(ProviderUnavailable):
        await reply_of(closed, request())
    await closed.aclose()


async def test_retries_happen_before_the_first_byte_only(upstream: AnthropicMessagesServer) -> None:
    gateway = gateway_for(upstream, max_retries=2)
    upstream.then(Behaviour(status=529), Behaviour(status=500))
    text, _ = await reply_of(gateway, request())
    assert text == "Echo: Bonjour 🙂"
    assert len(upstream.received) == 3
    upstream.then(Behaviour(cut_after=2))
    with pytest.raises(ProviderUnavailable):
        await reply_of(gateway, request())
    upstream.then(Behaviour(error_after=2, error_type="overloaded_error"))
    with pytest.raises(ProviderUnavailable):
        await reply_of(gateway, request())
    assert len(upstream.received) == 5  # a stream that has begun is never retried
    await gateway.aclose()


async def test_a_slow_first_byte_within_the_timeouts_is_no_failure(
    gateway: AnthropicChatGateway, upstream: AnthropicMessagesServer
) -> None:
    upstream.then(Behaviour(stall_after=0))
    turn = asyncio.create_task(reply_of(gateway, request()))
    await asyncio.wait_for(upstream.a_request_stalled.wait(), WITHIN)
    assert not turn.done()
    upstream.release_stalls()
    text, end = await turn
    assert text == "Echo: Bonjour 🙂" and end.finish_reason == "stop"


async def test_closing_the_stream_closes_the_upstream_request(
    gateway: AnthropicChatGateway, upstream: AnthropicMessagesServer
) -> None:
    upstream.hold(1)
    stream = gateway.stream(request())
    assert await anext(stream) == TextDelta("Echo: ")
    await stream.aclose()
    await asyncio.wait_for(upstream.a_stream_was_abandoned.wait(), WITHIN)
    assert upstream.abandoned == 1


async def test_cancelling_the_consumer_closes_the_upstream_request(
    gateway: AnthropicChatGateway, upstream: AnthropicMessagesServer
) -> None:
    upstream.hold(1)
    first = asyncio.Event()

    async def consume() -> None:
        async for _ in gateway.stream(request()):
            first.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), WITHIN)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.wait_for(upstream.a_stream_was_abandoned.wait(), WITHIN)
    assert upstream.abandoned == 1


def test_anthropics_own_endpoint_needs_a_key() -> None:
    with pytest.raises(ProviderRejected):
        AnthropicChatGateway(AnthropicConfig())
    with pytest.raises(ProviderRejected):
        AnthropicChatGateway(AnthropicConfig(api_key=""))


async def test_a_compatible_server_needs_no_key_and_the_sdks_environment_is_not_read(
    upstream: AnthropicMessagesServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The service's configuration alone says where requests go and with which key.
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-from-the-environment")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", f"http://127.0.0.1:{free_port()}")
    keyless = AnthropicChatGateway(AnthropicConfig(base_url=upstream.base_url, max_retries=0))
    text, _ = await reply_of(keyless, request())
    assert text == "Echo: Bonjour 🙂"
    assert "from-the-environment" not in upstream.received[-1].headers["authorization"]
    await keyless.aclose()
