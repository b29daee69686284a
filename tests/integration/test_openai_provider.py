"""The service with `gateway = openai`, pointed at a local OpenAI-compatible server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from google.protobuf.duration_pb2 import Duration
from google.rpc.error_details_pb2 import RetryInfo
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from chatservice.domain.models import ModelRegistry
from chatservice.domain.prices import cost_of, cost_text
from chatservice.entrypoints.grpc.generated import chatservice_v1_pb2 as pb
from support.grpc import LiveGrpcFactory
from support.http import AUTH, ApiFactory, LiveApiFactory, SseEvent, read_sse, unique_user
from support.openai_server import (
    COUNTER,
    Behaviour,
    OpenAICompatibleServer,
    running_openai_server,
)
from support.process import free_port
from support.waiting import GENEROUS_SECONDS

KEY = "sk-local-test-key"
#: The idle timeout where the provider stalls: the test waits it out. Everywhere else the
#: timeout is generous, so that a busy machine never makes a healthy stream look stalled.
STALL_TIMEOUT = 0.5


@pytest.fixture
async def upstream() -> AsyncIterator[OpenAICompatibleServer]:
    async with running_openai_server() as server:
        yield server


def provider(upstream: OpenAICompatibleServer, **more: Any) -> dict[str, Any]:
    return {
        "gateway": "openai",
        "openai_base_url": upstream.base_url,
        "openai_api_key": KEY,
        "openai_idle_timeout": GENEROUS_SECONDS,
        "openai_max_retries": 0,
        **more,
    }


async def test_a_turn_returns_the_providers_streamed_reply_and_usage(
    open_api: ApiFactory, upstream: OpenAICompatibleServer, request: pytest.FixtureRequest
) -> None:
    u = unique_user("u", request)
    async with open_api(**provider(upstream)) as api:
        chat = await api.new_chat(u, system_message="Answer in French.")
        reply = await api.say(u, chat["id"], "Bonjour 🙂")
        assert reply["message"]["content"] == "Echo: Bonjour 🙂"
        assert reply["usage"]["estimated"] is False
        sent = upstream.received[-1]
        assert sent.body["messages"] == [
            {"role": "system", "content": "Answer in French."},
            {"role": "user", "content": "Bonjour 🙂"},
        ]
        assert sent.body["model"] == "gpt-4o-mini"
        assert sent.body["stream"] is True
        assert sent.body["stream_options"] == {"include_usage": True}
        assert sent.headers["authorization"] == f"Bearer {KEY}"
        assert sent.headers["x-request-id"]
        stored = (await api.client.get(f"/v1/users/{u}/chats/{chat['id']}", headers=AUTH)).json()
        assert stored["usage"]["prompt_tokens"] == reply["usage"]["prompt_tokens"] > 0


async def test_each_reply_costs_its_reported_usage_with_cached_tokens_at_the_cached_price(
    open_api: ApiFactory, upstream: OpenAICompatibleServer, request: pytest.FixtureRequest
) -> None:
    u = unique_user("u", request)
    prices = ModelRegistry().lookup("gpt-4o-mini").prices
    async with open_api(**provider(upstream)) as api:
        chat = await api.new_chat(u)
        upstream.then(Behaviour(cached_tokens=0), Behaviour(cached_tokens=12))
        first = await api.say(u, chat["id"], "Hello there")
        second = await api.say(u, chat["id"], "And again")
        costs = []
        for reply in (first, second):
            usage = reply["usage"]
            expected = cost_of(
                prices,
                usage["prompt_tokens"],
                usage["completion_tokens"],
                usage["cached_prompt_tokens"],
            )
            assert reply["message"]["cost"] == cost_text(expected)
            costs.append(expected)
        assert second["usage"]["cached_prompt_tokens"] == 12
        stored = (await api.client.get(f"/v1/users/{u}/chats/{chat['id']}", headers=AUTH)).json()
        assert stored["cost"] == cost_text(sum(costs, Decimal(0)))
        assert [m["cost"] for m in stored["messages"] if m["role"] == "assistant"] == [
            cost_text(c) for c in costs
        ]


async def test_only_the_non_erased_window_is_sent_with_the_models_parameters(
    open_api: ApiFactory, upstream: OpenAICompatibleServer, request: pytest.FixtureRequest
) -> None:
    u = unique_user("u", request)
    async with open_api(**provider(upstream, context_window=300, max_completion_tokens=100)) as api:
        chat = await api.new_chat(u, model="gpt-4", params={"max_completion_tokens": 100})
        for i in range(6):
            await api.say(u, chat["id"], f"message {i}: " + "lorem ipsum " * 8)
        stored = (await api.client.get(f"/v1/users/{u}/chats/{chat['id']}", headers=AUTH)).json()
        kept = [m for m in stored["messages"][:-1] if not m["erased"]]
        assert any(m["erased"] for m in stored["messages"])
        sent = upstream.received[-1].body
        assert sent["messages"] == [{"role": m["role"], "content": m["content"]} for m in kept]
        assert sent["max_tokens"] == 100 and "max_completion_tokens" not in sent
        assert 3 + sum(m["tokens"] for m in kept) + 100 <= 300


async def test_a_reasoning_model_gets_no_sampling_parameters_it_rejects(
    open_api: ApiFactory, upstream: OpenAICompatibleServer, request: pytest.FixtureRequest
) -> None:
    u = unique_user("u", request)
    async with open_api(**provider(upstream)) as api:
        gpt = await api.new_chat(u, model="gpt-4o", params={"temperature": 0.2, "stop": ["END"]})
        await api.say(u, gpt["id"], "hi")
        assert upstream.received[-1].body["temperature"] == 0.2
        assert upstream.received[-1].body["stop"] == ["END"]
        assert upstream.received[-1].body["max_completion_tokens"] == 4096
        reasoning = await api.new_chat(
            u, model="o3-2025-04-16", params={"max_completion_tokens": 500}
        )
        await api.say(u, reasoning["id"], "hi")
        sent = upstream.received[-1].body
        assert sent["model"] == "o3-2025-04-16"
        assert "temperature" not in sent and "top_p" not in sent
        assert sent["max_completion_tokens"] == 500


async def test_a_provider_without_usage_gets_our_estimate_marked(
    open_api: ApiFactory, upstream: OpenAICompatibleServer, request: pytest.FixtureRequest
) -> None:
    u = unique_user("u", request)
    async with open_api(**provider(upstream)) as api:
        chat = await api.new_chat(u)
        reported = await api.say(u, chat["id"], "hi")
        upstream.then(Behaviour(usage=False))
        estimated = await api.say(u, chat["id"], "hi")
        assert estimated["usage"]["estimated"] is True
        # The local server counts as an exact provider would: our estimate must match it.
        exact = 3 + sum(
            COUNTER.message_cost("o200k_base", m["role"], m["content"])
            for m in upstream.received[-1].body["messages"]
        )
        assert estimated["usage"]["prompt_tokens"] == exact
        assert reported["usage"]["prompt_tokens"] < exact
        assert estimated["usage"]["completion_tokens"] == COUNTER.count(
            "o200k_base", estimated["message"]["content"]
        )


async def test_a_reply_cut_at_the_limit_is_stored_with_finish_reason_length(
    open_api: ApiFactory, upstream: OpenAICompatibleServer, request: pytest.FixtureRequest
) -> None:
    u = unique_user("u", request)
    async with open_api(**provider(upstream)) as api:
        chat = await api.new_chat(u, params={"max_completion_tokens": 3})
        reply = await api.say(u, chat["id"], "a long question with many words in it")
        assert reply["message"]["finish_reason"] == "length"


async def test_retries_happen_before_the_first_byte_only(
    open_api: ApiFactory, upstream: OpenAICompatibleServer, request: pytest.FixtureRequest
) -> None:
    u = unique_user("u", request)
    async with open_api(**provider(upstream, openai_max_retries=2)) as api:
        chat = await api.new_chat(u)
        upstream.then(Behaviour(status=500), Behaviour(status=503))
        reply = await api.say(u, chat["id"], "hi")
        assert reply["message"]["content"] == "Echo: hi"
        assert len(upstream.received) == 3
        upstream.then(Behaviour(reply="one two three four five", cut_after=2))
        response = await api.client.post(
            f"/v1/users/{u}/chats/{chat['id']}/messages", json={"content": "again"}, headers=AUTH
        )
        assert response.status_code == 502
        assert len(upstream.received) == 4  # a cut stream is not retried


FAILURES = [
    (Behaviour(status=401), 502, "provider_rejected", Status.UNAVAILABLE),
    (Behaviour(status=403), 502, "provider_rejected", Status.UNAVAILABLE),
    (
        Behaviour(status=429, headers={"retry-after": "7"}),
        429,
        "provider_rate_limited",
        Status.RESOURCE_EXHAUSTED,
    ),
    (Behaviour(stall_before_response=True), 504, "provider_timeout", Status.DEADLINE_EXCEEDED),
    (Behaviour(stall_after=0), 504, "provider_timeout", Status.DEADLINE_EXCEEDED),
    (Behaviour(status=500), 502, "provider_unavailable", Status.UNAVAILABLE),
    (
        Behaviour(reply="one two three four", cut_after=2),
        502,
        "provider_unavailable",
        Status.UNAVAILABLE,
    ),
    (
        Behaviour(reply="one two three", malformed_after=1),
        502,
        "provider_unavailable",
        Status.UNAVAILABLE,
    ),
    (Behaviour(finish=None), 502, "provider_unavailable", Status.UNAVAILABLE),
    (Behaviour(reply=""), 502, "provider_unavailable", Status.UNAVAILABLE),
    (
        Behaviour(
            status=400,
            error={
                "message": "too long",
                "type": "invalid_request_error",
                "code": "context_length_exceeded",
            },
        ),
        413,
        "message_too_long",
        Status.INVALID_ARGUMENT,
    ),
    (
        # vLLM gives no error code but its status: the message says what happened.
        Behaviour(
            status=400,
            error={
                "message": "This model's maximum context length is 8192 tokens. However, your "
                "request has 9000 input tokens. Please reduce the length of the input messages.",
                "type": "BadRequestError",
                "code": 400,
            },
        ),
        413,
        "message_too_long",
        Status.INVALID_ARGUMENT,
    ),
    (
        Behaviour(status=400, error={"message": "bad", "code": "unsupported"}),
        502,
        "provider_rejected",
        Status.UNAVAILABLE,
    ),
]
FAILURE_IDS = [
    "401",
    "403",
    "429",
    "slow-first-byte",
    "stalled-stream",
    "500",
    "cut",
    "malformed",
    "no-finish-reason",
    "empty-reply",
    "context-length",
    "vllm-context-length",
    "400",
]


@pytest.mark.parametrize(("behaviour", "status", "code", "grpc_status"), FAILURES, ids=FAILURE_IDS)
async def test_each_upstream_failure_gets_its_status_and_stores_nothing(
    open_api: ApiFactory,
    open_live_grpc: LiveGrpcFactory,
    upstream: OpenAICompatibleServer,
    request: pytest.FixtureRequest,
    behaviour: Behaviour,
    status: int,
    code: str,
    grpc_status: Status,
) -> None:
    u = unique_user("u", request)
    stalls = behaviour.stall_before_response or behaviour.stall_after is not None
    settings = (
        provider(upstream, openai_idle_timeout=STALL_TIMEOUT) if stalls else provider(upstream)
    )
    async with open_api(**settings) as api:
        chat = await api.new_chat(u)
        before = await api.snapshot(u)
        upstream.then(behaviour)
        response = await api.client.post(
            f"/v1/users/{u}/chats/{chat['id']}/messages", json={"content": "hi"}, headers=AUTH
        )
        assert response.status_code == status, response.text
        assert response.json()["error"]["code"] == code
        if status == 429:
            assert response.headers["retry-after"] == "7"
        assert await api.snapshot(u) == before
    async with open_live_grpc(**settings) as live:
        upstream.then(behaviour)
        with pytest.raises(GRPCError) as failure:
            await live.v1.SendMessage(
                pb.SendMessageRequest(user_id=u, chat_id=chat["id"], content="hi")
            )
        assert failure.value.status == grpc_status
        if status == 429:
            assert failure.value.details == [RetryInfo(retry_delay=Duration(seconds=7))]
        assert await live.snapshot(u) == before


@pytest.mark.parametrize("retry_after", ["inf", "nan", "-5", "Wed, 21 Oct 2015 07:28:00 GMT"])
async def test_a_retry_after_that_is_no_delay_in_seconds_is_left_out(
    open_api: ApiFactory,
    open_live_grpc: LiveGrpcFactory,
    upstream: OpenAICompatibleServer,
    request: pytest.FixtureRequest,
    retry_after: str,
) -> None:
    u = unique_user("u", request)
    limited = Behaviour(status=429, headers={"retry-after": retry_after})
    async with open_api(**provider(upstream)) as api:
        chat = await api.new_chat(u)
        upstream.then(limited)
        response = await api.client.post(
            f"/v1/users/{u}/chats/{chat['id']}/messages", json={"content": "hi"}, headers=AUTH
        )
        assert response.status_code == 429, response.text
        assert "retry-after" not in response.headers
    async with open_live_grpc(**provider(upstream)) as live:
        upstream.then(limited)
        with pytest.raises(GRPCError) as failure:
            await live.v1.SendMessage(
                pb.SendMessageRequest(user_id=u, chat_id=chat["id"], content="hi")
            )
        assert failure.value.status == Status.RESOURCE_EXHAUSTED
        assert failure.value.details is None


async def test_a_failure_mid_stream_is_an_sse_error_event(
    open_live_api: LiveApiFactory, upstream: OpenAICompatibleServer, request: pytest.FixtureRequest
) -> None:
    u = unique_user("u", request)
    async with open_live_api(**provider(upstream)) as live, live.client() as http:
        chat_id = (await http.post(f"/v1/users/{u}/chats", json={})).json()["id"]
        before = await live.snapshot(u)
        upstream.then(Behaviour(reply="one two three four five six", cut_after=3))
        async with http.stream(
            "POST",
            f"/v1/users/{u}/chats/{chat_id}/messages",
            json={"content": "hi"},
            headers={"Accept": "text/event-stream"},
        ) as response:
            events = [e async for e in read_sse(response) if isinstance(e, SseEvent)]
        assert [e.event for e in events] == ["delta", "delta", "delta", "error"]
        assert events[-1].data["code"] == "provider_unavailable"
        assert await live.snapshot(u) == before


async def test_an_unreachable_provider_is_a_502(
    open_api: ApiFactory, request: pytest.FixtureRequest
) -> None:
    u = unique_user("u", request)
    closed = f"http://127.0.0.1:{free_port()}/v1"
    async with open_api(gateway="openai", openai_base_url=closed, openai_max_retries=0) as api:
        chat = await api.new_chat(u)
        response = await api.client.post(
            f"/v1/users/{u}/chats/{chat['id']}/messages", json={"content": "hi"}, headers=AUTH
        )
        assert response.status_code == 502
        assert response.json()["error"]["code"] == "provider_unavailable"
