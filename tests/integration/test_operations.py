"""Metrics after real turns, and trace ids from the caller to the provider and back."""

from __future__ import annotations

from decimal import Decimal

import pytest
from grpclib.exceptions import GRPCError

from chatservice.entrypoints.grpc.generated import chatservice_v1_grpc
from chatservice.entrypoints.grpc.generated import chatservice_v1_pb2 as pb
from support.grpc import LiveGrpcFactory, channel_with
from support.http import AUTH, ApiFactory, unique_user
from support.metrics import scrape, value
from support.openai_server import running_openai_server

MESSAGES_ROUTE = "/v1/users/{user_id}/chats/{chat_id}/messages"


async def test_metrics_count_turns_tokens_latency_erasures_and_requests(
    open_api: ApiFactory, request: pytest.FixtureRequest
) -> None:
    u = unique_user("u", request)
    async with open_api(context_window=400, max_completion_tokens=100) as api:
        before = await scrape(api.client)
        chat = await api.new_chat(u)
        for i in range(8):
            await api.say(u, chat["id"], f"turn {i} " + "lorem ipsum " * 8)
        refused = await api.client.post(
            f"/v1/users/{u}/chats/{chat['id']}/messages",
            json={"content": "lorem " * 500},
            headers=AUTH,
        )
        assert refused.status_code == 413
        after = await scrape(api.client)
        stored = (await api.client.get(f"/v1/users/{u}/chats/{chat['id']}", headers=AUTH)).json()

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("chatservice_turns_total", outcome="completed") == 8
    assert grew("chatservice_turns_total", outcome="message_too_long") == 1
    assert grew("chatservice_tokens_total", direction="prompt", model="gpt-4o-mini") > 0
    assert grew("chatservice_tokens_total", direction="completion", model="gpt-4o-mini") > 0
    assert grew("chatservice_erased_messages_total") > 0
    # The counter is a float; the chat's cost is the exact sum of the same replies.
    spent = grew("chatservice_cost_usd_total", model="gpt-4o-mini")
    assert spent == pytest.approx(float(Decimal(stored["cost"])), rel=1e-9) and spent > 0
    assert grew("chatservice_provider_duration_seconds_count") == 8
    assert grew("chatservice_time_to_first_token_seconds_count") == 8
    assert value(after, "chatservice_active_turns") == 0
    assert (
        grew("chatservice_requests_total", path=MESSAGES_ROUTE, method="POST", status_code="200")
        == 8
    )
    assert grew("chatservice_request_duration_seconds_count", path=MESSAGES_ROUTE) == 9
    assert not any("u-" in dict(labels).get("path", "") for _, labels in after)


async def test_grpc_calls_are_counted_by_method_and_status(
    open_live_grpc: LiveGrpcFactory, request: pytest.FixtureRequest
) -> None:
    u = unique_user("u", request)
    async with open_live_grpc() as live:
        before = await scrape(live.http)
        await live.v1.CreateChat(pb.CreateChatRequest(user_id=u))
        stranger = channel_with(live.port, {"authorization": "wrong"})
        with pytest.raises(GRPCError):
            await chatservice_v1_grpc.ChatServiceStub(stranger).ListChats(
                pb.ListChatsRequest(user_id=u)
            )
        stranger.close()
        after = await scrape(live.http)
    create = "/chatservice.v1.ChatService/CreateChat"
    listing = "/chatservice.v1.ChatService/ListChats"
    assert (
        value(after, "chatservice_grpc_calls_total", method=create, status="OK")
        - value(before, "chatservice_grpc_calls_total", method=create, status="OK")
        == 1
    )
    assert (
        value(after, "chatservice_grpc_calls_total", method=listing, status="UNAUTHENTICATED")
        - value(before, "chatservice_grpc_calls_total", method=listing, status="UNAUTHENTICATED")
        == 1
    )


async def test_a_trace_id_is_returned_and_passed_to_the_provider_but_never_the_idempotency_key(
    open_api: ApiFactory, request: pytest.FixtureRequest
) -> None:
    u = unique_user("u", request)
    async with running_openai_server() as upstream:
        settings = {"gateway": "openai", "openai_base_url": upstream.base_url}
        async with open_api(**settings) as api:
            chat = await api.new_chat(u)
            path = f"/v1/users/{u}/chats/{chat['id']}/messages"
            given = await api.client.post(
                path, json={"content": "hi"}, headers=AUTH | {"X-Request-Id": "trace-123"}
            )
            assert given.headers["x-request-id"] == "trace-123"
            assert upstream.received[-1].headers["x-request-id"] == "trace-123"
            generated = await api.client.post(path, json={"content": "again"}, headers=AUTH)
            trace_id = generated.headers["x-request-id"]
            assert len(trace_id) == 32 and trace_id != "trace-123"
            assert upstream.received[-1].headers["x-request-id"] == trace_id
            keyed = await api.client.post(
                path, json={"content": "once"}, headers=AUTH | {"Idempotency-Key": "my-key-1"}
            )
            sent = upstream.received[-1].headers
            assert sent["x-request-id"] == keyed.headers["x-request-id"] != "my-key-1"
            assert "my-key-1" not in str(sent)  # the idempotency key is the caller's own
            insane = await api.client.get("/healthz", headers={"X-Request-Id": "a b"})
            assert insane.headers["x-request-id"] != "a b"


async def test_a_grpc_call_returns_its_trace_id(
    open_live_grpc: LiveGrpcFactory, request: pytest.FixtureRequest
) -> None:
    async with open_live_grpc() as live:
        channel = channel_with(
            live.port, {"authorization": "test-token-1", "x-request-id": "rpc-7"}
        )
        try:
            stub = chatservice_v1_grpc.ChatServiceStub(channel)
            async with stub.ListChats.open() as stream:
                await stream.send_message(pb.ListChatsRequest(user_id="u1"), end=True)
                await stream.recv_message()
                assert stream.initial_metadata is not None
                assert stream.initial_metadata["x-request-id"] == "rpc-7"
        finally:
            channel.close()
