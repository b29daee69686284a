"""gRPC over a real local port: the original ChatStream, chatservice.v1, health and reflection."""

from __future__ import annotations

import asyncio
import itertools
from decimal import Decimal
from typing import Any

import pytest
from grpclib.client import Channel
from grpclib.const import Status
from grpclib.exceptions import GRPCError
from grpclib.health.v1.health_grpc import HealthStub
from grpclib.health.v1.health_pb2 import HealthCheckRequest, HealthCheckResponse
from grpclib.reflection.v1.reflection_grpc import ServerReflectionStub
from grpclib.reflection.v1.reflection_pb2 import ServerReflectionRequest

from chatservice.adapters.fake_gateway import FakeChatGateway
from chatservice.domain.models import ModelRegistry
from chatservice.domain.prices import cost_of, cost_text
from chatservice.entrypoints.grpc.generated import chat_grpc, chatservice_v1_grpc
from chatservice.entrypoints.grpc.generated import chat_pb2 as compat_pb
from chatservice.entrypoints.grpc.generated import chatservice_v1_pb2 as pb
from support.grpc import LiveGrpc, LiveGrpcFactory, channel_with
from support.http import unique_user
from support.waiting import eventually


def fake(live: LiveGrpc) -> FakeChatGateway:
    gateway = live.container.gateway()
    assert isinstance(gateway, FakeChatGateway)
    return gateway


async def create_chat(live: LiveGrpc, user_id: str) -> pb.Chat:
    chat: pb.Chat = await live.v1.CreateChat(pb.CreateChatRequest(user_id=user_id))
    return chat


async def test_the_compat_stream_carries_cumulative_content(
    open_live_grpc: LiveGrpcFactory, request: pytest.FixtureRequest
) -> None:
    u = unique_user("u", request)
    async with open_live_grpc() as live:
        replies = await live.compat.ChatStream(compat_pb.ChatRequest(user_id=u, user_message="hi"))
        assert len(replies) > 5
        chat_id = replies[0].chat_id
        assert chat_id and all(r.chat_id == chat_id and r.user_id == u for r in replies)
        for shorter, longer in itertools.pairwise(replies):
            assert longer.content.startswith(shorter.content)
            assert len(longer.content) > len(shorter.content)
        stored = await live.v1.GetChat(pb.GetChatRequest(user_id=u, chat_id=chat_id))
        assert stored.messages[-1].content == replies[-1].content

        again = await live.compat.ChatStream(
            compat_pb.ChatRequest(chat_id=chat_id, user_id=u, user_message="and more")
        )
        assert again[-1].chat_id == chat_id
        stored = await live.v1.GetChat(pb.GetChatRequest(user_id=u, chat_id=chat_id))
        assert [m.role for m in stored.messages] == [
            "system",
            "user",
            "assistant",
            "user",
            "assistant",
        ]


async def test_each_reply_and_its_chat_carry_their_exact_cost_in_usd(
    open_live_grpc: LiveGrpcFactory, request: pytest.FixtureRequest
) -> None:
    u = unique_user("u", request)
    async with open_live_grpc() as live:
        chat = await create_chat(live, u)
        prices = ModelRegistry().lookup(chat.model).prices
        costs = []
        for content in ("one", "two"):
            *_, last = await live.v1.SendMessage(
                pb.SendMessageRequest(user_id=u, chat_id=chat.id, content=content)
            )
            usage = last.completed.usage
            cost = cost_of(prices, usage.prompt_tokens, usage.completion_tokens)
            assert cost > 0
            assert usage.cost == last.completed.reply.usage.cost == cost_text(cost)
            costs.append(cost)
        stored = await live.v1.GetChat(pb.GetChatRequest(user_id=u, chat_id=chat.id))
        assert stored.usage.cost == cost_text(sum(costs, Decimal(0)))
        assert [m.usage.cost for m in stored.messages if m.role == "assistant"] == [
            cost_text(c) for c in costs
        ]


async def test_v1_deltas_join_to_the_stored_reply(
    open_live_grpc: LiveGrpcFactory, request: pytest.FixtureRequest
) -> None:
    u = unique_user("u", request)
    async with open_live_grpc() as live:
        chat = await create_chat(live, u)
        events = await live.v1.SendMessage(
            pb.SendMessageRequest(user_id=u, chat_id=chat.id, content="Olá 🙂 𝄞")
        )
        *deltas, last = events
        assert all(e.WhichOneof("event") == "delta" for e in deltas)
        assert last.WhichOneof("event") == "completed"
        joined = "".join(e.delta.text for e in deltas)
        assert joined == last.completed.reply.content
        assert "Olá 🙂 𝄞" in joined
        assert last.completed.user_message.content == "Olá 🙂 𝄞"
        assert last.completed.usage.completion_tokens > 0
        stored = await live.v1.GetChat(pb.GetChatRequest(user_id=u, chat_id=chat.id))
        assert stored.messages[-1].id == last.completed.reply.id
        # The model that wrote the reply, on the reply only.
        assert last.completed.reply.model == stored.messages[-1].model == chat.model
        assert [m.model for m in stored.messages[:-1]] == ["", ""]


async def test_v1_and_http_see_the_same_chats(
    open_live_grpc: LiveGrpcFactory, request: pytest.FixtureRequest
) -> None:
    u = unique_user("u", request)
    async with open_live_grpc() as live:
        chat = await create_chat(live, u)
        sent = await live.http.post(
            f"/v1/users/{u}/chats/{chat.id}/messages", json={"content": "x"}
        )
        assert sent.status_code == 200
        over_http = (await live.http.get(f"/v1/users/{u}/chats/{chat.id}")).json()
        over_grpc = await live.v1.GetChat(pb.GetChatRequest(user_id=u, chat_id=chat.id))
        assert [(m["id"], m["content"], m["position"]) for m in over_http["messages"]] == [
            (m.id, m.content, m.position) for m in over_grpc.messages
        ]
        listed = await live.v1.ListChats(pb.ListChatsRequest(user_id=u))
        assert [c.id for c in listed.items] == [chat.id]
        assert listed.items[0].title == "x"
        ended = await live.v1.EndChat(pb.EndChatRequest(user_id=u, chat_id=chat.id))
        assert ended.status == "ended"
        assert (await live.http.get(f"/v1/users/{u}/chats/{chat.id}")).json()["status"] == "ended"
        await live.v1.DeleteChat(pb.DeleteChatRequest(user_id=u, chat_id=chat.id))
        assert (await live.http.get(f"/v1/users/{u}/chats/{chat.id}")).status_code == 404


async def test_fifty_concurrent_streams_each_get_only_their_own_text(
    open_live_grpc: LiveGrpcFactory, request: pytest.FixtureRequest
) -> None:
    base = unique_user("u", request)
    async with open_live_grpc(fake_chunk_delay_ms=5) as live:

        async def converse(i: int) -> tuple[int, list[compat_pb.ChatResponse]]:
            user = f"{base}-{i}"
            message = f"secret number {i} of {user}"
            stream = await live.compat.ChatStream(
                compat_pb.ChatRequest(user_id=user, user_message=message)
            )
            return i, stream

        results = await asyncio.gather(*(converse(i) for i in range(50)))
        for i, replies in results:
            mine = f"secret number {i} of {base}-{i}"
            assert all(r.user_id == f"{base}-{i}" for r in replies)
            assert mine in replies[-1].content
            others = [f"number {j} of" for j in range(50) if j != i]
            assert not any(o in r.content for r in replies for o in others)


async def expect_status(call: Any, status: Status) -> GRPCError:
    with pytest.raises(GRPCError) as failure:
        await call
    assert failure.value.status == status, failure.value
    assert failure.value.message
    return failure.value


@pytest.mark.parametrize(
    "metadata", [{}, {"authorization": "Bearer wrong"}, {"authorization": "test-token-1x"}]
)
async def test_a_missing_or_wrong_token_is_unauthenticated(
    open_live_grpc: LiveGrpcFactory, metadata: dict[str, str]
) -> None:
    async with open_live_grpc() as live:
        channel = channel_with(live.port, metadata)
        try:
            stub = chatservice_v1_grpc.ChatServiceStub(channel)
            await expect_status(
                stub.ListChats(pb.ListChatsRequest(user_id="u1")), Status.UNAUTHENTICATED
            )
            compat = chat_grpc.ChatServiceStub(channel)
            await expect_status(
                compat.ChatStream(compat_pb.ChatRequest(user_id="u1", user_message="hi")),
                Status.UNAUTHENTICATED,
            )
        finally:
            channel.close()


async def test_the_rotated_token_works_too(open_live_grpc: LiveGrpcFactory) -> None:
    async with open_live_grpc() as live:
        channel = channel_with(live.port, {"authorization": "test-token-2"})
        try:
            stub = chatservice_v1_grpc.ChatServiceStub(channel)
            listed = await stub.ListChats(pb.ListChatsRequest(user_id="u1-rotated"))
            assert list(listed.items) == []
        finally:
            channel.close()


async def test_a_turn_in_progress_is_aborted(
    open_live_grpc: LiveGrpcFactory, request: pytest.FixtureRequest
) -> None:
    u = unique_user("u", request)
    async with open_live_grpc() as live:
        chat = await create_chat(live, u)
        hold = fake(live).hold(after_chunks=1)
        first = asyncio.create_task(
            live.v1.SendMessage(pb.SendMessageRequest(user_id=u, chat_id=chat.id, content="a"))
        )
        await hold.reached()
        await expect_status(
            live.v1.SendMessage(pb.SendMessageRequest(user_id=u, chat_id=chat.id, content="b")),
            Status.ABORTED,
        )
        hold.release()
        await first


async def test_a_cancelled_call_stores_nothing_and_frees_the_chat(
    open_live_grpc: LiveGrpcFactory, request: pytest.FixtureRequest
) -> None:
    u = unique_user("u", request)
    async with open_live_grpc() as live:
        chat = await create_chat(live, u)
        before = await live.snapshot(u)
        hold = fake(live).hold(after_chunks=1)
        async with live.v1.SendMessage.open() as stream:
            await stream.send_message(
                pb.SendMessageRequest(user_id=u, chat_id=chat.id, content="hi"), end=True
            )
            first = await stream.recv_message()
            assert first is not None and first.WhichOneof("event") == "delta"
            await stream.cancel()
        await model_call_cancelled_and_nothing_stored(live, u, before)
        hold.release()
        done = await live.v1.SendMessage(
            pb.SendMessageRequest(user_id=u, chat_id=chat.id, content="again")
        )
        assert done[-1].WhichOneof("event") == "completed"


async def test_a_passed_deadline_cancels_the_model_and_stores_nothing(
    open_live_grpc: LiveGrpcFactory, request: pytest.FixtureRequest
) -> None:
    u = unique_user("u", request)
    async with open_live_grpc() as live:
        chat = await create_chat(live, u)
        before = await live.snapshot(u)
        # The model never gets past its first chunk: only the deadline ends the call. The
        # deadline is far beyond the time the call needs to reach the model.
        hold = fake(live).hold(after_chunks=1)
        with pytest.raises((GRPCError, asyncio.TimeoutError)):
            await live.v1.SendMessage(
                pb.SendMessageRequest(user_id=u, chat_id=chat.id, content="hi"), timeout=3
            )
        await model_call_cancelled_and_nothing_stored(live, u, before)
        hold.release()
        done = await live.v1.SendMessage(
            pb.SendMessageRequest(user_id=u, chat_id=chat.id, content="again")
        )
        assert done[-1].WhichOneof("event") == "completed"


async def model_call_cancelled_and_nothing_stored(
    live: LiveGrpc, user: str, before: object
) -> None:
    async def unchanged() -> bool:
        return bool(await live.snapshot(user) == before)

    await eventually(lambda: fake(live).abandoned == 1, "the model call was cancelled")
    await eventually(unchanged, "the chat is as it was")


async def test_a_retried_request_id_returns_the_stored_reply(
    open_live_grpc: LiveGrpcFactory, request: pytest.FixtureRequest
) -> None:
    u = unique_user("u", request)
    async with open_live_grpc() as live:
        chat = await create_chat(live, u)
        ask = pb.SendMessageRequest(user_id=u, chat_id=chat.id, content="hi", request_id="r-1")
        first = await live.v1.SendMessage(ask)
        calls = len(fake(live).requests)
        again = await live.v1.SendMessage(ask)
        assert again[-1].completed.reply == first[-1].completed.reply
        assert len(fake(live).requests) == calls
        ask.content = "different"
        await expect_status(live.v1.SendMessage(ask), Status.INVALID_ARGUMENT)


async def test_health_and_reflection_are_open_and_list_every_service(
    open_live_grpc: LiveGrpcFactory,
) -> None:
    async with open_live_grpc() as live:
        channel = Channel("127.0.0.1", live.port)  # no token
        try:
            health = await HealthStub(channel).Check(HealthCheckRequest())
            assert health.status == HealthCheckResponse.SERVING
            async with ServerReflectionStub(channel).ServerReflectionInfo.open() as stream:
                await stream.send_message(ServerReflectionRequest(list_services=""), end=True)
                reply = await stream.recv_message()
            assert reply is not None
            names = {s.name for s in reply.list_services_response.service}
            # grpclib's reflection lists the services it extends, not itself.
            assert names == {
                "pb.ChatService",
                "chatservice.v1.ChatService",
                "grpc.health.v1.Health",
            }
        finally:
            channel.close()
