"""gRPC errors seen by a grpclib client: the status, the message, and `RetryInfo` when it applies.

The details travel as a `google.rpc.Status` in the `grpc-status-details-bin` trailer; grpclib's
client decodes them into `GRPCError.details`.
"""

from __future__ import annotations

import re

import pytest
from google.protobuf.duration_pb2 import Duration
from google.rpc.error_details_pb2 import RetryInfo
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from chatservice.entrypoints.grpc.generated import chat_pb2 as compat_pb
from chatservice.entrypoints.grpc.generated import chatservice_v1_pb2 as pb
from support.grpc import LiveGrpc, LiveGrpcFactory
from support.http import unique_user

#: Far longer than any answer takes: a call that reaches it has hung, not been slow.
DEADLINE_SECONDS = 60.0


async def use_up_the_limit(live: LiveGrpc, user_id: str) -> pb.Chat:
    """A chat of `user_id` after the one turn a minute of `turns_per_minute_per_user=1`."""
    chat: pb.Chat = await live.v1.CreateChat(pb.CreateChatRequest(user_id=user_id))
    await live.v1.SendMessage(pb.SendMessageRequest(user_id=user_id, chat_id=chat.id, content="a"))
    return chat


def seconds_in(message: str) -> int:
    found = re.search(r"retry in (\d+) s", message)
    assert found, message
    return int(found.group(1))


async def test_a_rate_limited_turn_carries_its_retry_delay_as_retry_info(
    open_live_grpc: LiveGrpcFactory, request: pytest.FixtureRequest
) -> None:
    u = unique_user("u", request)
    async with open_live_grpc(turns_per_minute_per_user=1) as live:
        chat = await use_up_the_limit(live, u)
        with pytest.raises(GRPCError) as refused:
            await live.v1.SendMessage(
                pb.SendMessageRequest(user_id=u, chat_id=chat.id, content="b"),
                timeout=DEADLINE_SECONDS,
            )
    assert refused.value.status == Status.RESOURCE_EXHAUSTED
    assert refused.value.message is not None
    assert refused.value.message.startswith("at most 1 messages a minute")
    delay = seconds_in(refused.value.message)
    assert 0 < delay <= 60
    assert refused.value.details == [RetryInfo(retry_delay=Duration(seconds=delay))]


async def test_a_rate_limited_call_ends_with_its_status_instead_of_waiting_for_the_deadline(
    open_live_grpc: LiveGrpcFactory, request: pytest.FixtureRequest
) -> None:
    u = unique_user("u", request)
    async with open_live_grpc(turns_per_minute_per_user=1) as live:
        chat = await use_up_the_limit(live, u)
        refusals = []
        for call in (
            live.v1.SendMessage(
                pb.SendMessageRequest(user_id=u, chat_id=chat.id, content="b"),
                timeout=DEADLINE_SECONDS,
            ),
            live.compat.ChatStream(
                compat_pb.ChatRequest(user_id=u, chat_id=chat.id, user_message="c"),
                timeout=DEADLINE_SECONDS,
            ),
        ):
            with pytest.raises(GRPCError) as refused:
                await call
            refusals.append(refused.value.status)
        # The stream was closed cleanly: the same connection goes on serving.
        listed = await live.v1.ListChats(pb.ListChatsRequest(user_id=u))
    assert refusals == [Status.RESOURCE_EXHAUSTED, Status.RESOURCE_EXHAUSTED]
    assert [c.id for c in listed.items] == [chat.id]


async def test_an_error_without_a_retry_delay_keeps_its_status_and_message_and_no_details(
    open_live_grpc: LiveGrpcFactory, request: pytest.FixtureRequest
) -> None:
    u = unique_user("u", request)
    async with open_live_grpc() as live:
        with pytest.raises(GRPCError) as missing:
            await live.v1.GetChat(pb.GetChatRequest(user_id=u, chat_id="no-such-chat"))
    assert missing.value.status == Status.NOT_FOUND
    assert missing.value.message == "chat 'no-such-chat' not found"
    assert missing.value.details is None
