"""Conversation control over gRPC, on a real local port: `Regenerate`, `EditMessage` (streamed
and in the background) and `ForkChat`; superseded messages, `forked_from` and the window on the
chat; refusals as statuses, storing nothing."""

from __future__ import annotations

import pytest
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from chatservice.adapters.fake_gateway import FakeChatGateway
from chatservice.entrypoints.grpc.generated import chatservice_v1_pb2 as pb
from support.containers import provided
from support.grpc import LiveGrpc, LiveGrpcFactory
from support.http import unique_user


def fake(live: LiveGrpc) -> FakeChatGateway:
    return provided(live.container.gateway, FakeChatGateway)


async def talked(live: LiveGrpc, user: str, *questions: str) -> pb.Chat:
    """A new chat of `user` in which each of `questions` was answered, as `GetChat` reads it."""
    chat = await live.v1.CreateChat(pb.CreateChatRequest(user_id=user))
    for question in questions:
        await live.v1.SendMessage(
            pb.SendMessageRequest(user_id=user, chat_id=chat.id, content=question)
        )
    return await read(live, user, chat.id)


async def read(live: LiveGrpc, user: str, chat_id: str) -> pb.Chat:
    return await live.v1.GetChat(pb.GetChatRequest(user_id=user, chat_id=chat_id))


def superseded(chat: pb.Chat) -> list[bool]:
    return [m.superseded for m in chat.messages]


async def test_regenerate_streams_a_new_reply_and_supersedes_the_old_one(
    open_live_grpc: LiveGrpcFactory, request: pytest.FixtureRequest
) -> None:
    user = unique_user("grpc-ctl", request)
    async with open_live_grpc() as live:
        chat = await talked(live, user, "first", "second")
        events = await live.v1.Regenerate(
            pb.RegenerateRequest(user_id=user, chat_id=chat.id, request_id="regen-1")
        )
        kinds = [e.WhichOneof("event") for e in events]
        assert kinds[-1] == "completed" and set(kinds[:-1]) == {"delta"}
        done = events[-1].completed
        after = await read(live, user, chat.id)
        assert superseded(after) == [False] * 4 + [True, False]
        assert done.reply == after.messages[-1]
        assert done.user_message == after.messages[3]
        assert "".join(e.delta.text for e in events[:-1]) == done.reply.content
        # A retry with the same request id is the stored reply, the model left alone.
        calls = len(fake(live).requests)
        again = await live.v1.Regenerate(
            pb.RegenerateRequest(user_id=user, chat_id=chat.id, request_id="regen-1")
        )
        assert [e.completed.reply for e in again] == [done.reply]
        assert len(fake(live).requests) == calls


async def test_an_edit_in_the_background_is_watched_to_its_stored_reply(
    open_live_grpc: LiveGrpcFactory, request: pytest.FixtureRequest
) -> None:
    user = unique_user("grpc-ctl", request)
    async with open_live_grpc() as live:
        chat = await talked(live, user, "first")
        [response] = await live.v1.EditMessage(
            pb.EditMessageRequest(
                user_id=user,
                chat_id=chat.id,
                message_id=chat.messages[1].id,
                content="edited",
                request_id="edit-1",
                background=True,
            )
        )
        assert (response.accepted.request_id, response.accepted.status) == ("edit-1", "running")
        events = await live.v1.WatchTurn(
            pb.WatchTurnRequest(user_id=user, chat_id=chat.id, request_id="edit-1")
        )
        after = await read(live, user, chat.id)
        assert events[-1].completed.reply == after.messages[-1]
        assert superseded(after) == [False, True, True, False, False]
        assert after.messages[3].content == "edited"


async def test_refusals_are_statuses_and_store_nothing(
    open_live_grpc: LiveGrpcFactory, request: pytest.FixtureRequest
) -> None:
    user = unique_user("grpc-ctl", request)
    async with open_live_grpc() as live:
        empty = await talked(live, user)
        chat = await talked(live, user, "first", "second")
        other = await talked(live, user, "elsewhere")
        before = await live.snapshot(user)
        edit = {"user_id": user, "chat_id": chat.id, "content": "new"}
        refusals = [
            (live.v1.Regenerate, pb.RegenerateRequest(user_id=user, chat_id=empty.id),
             Status.FAILED_PRECONDITION, "user message"),
            (live.v1.EditMessage, pb.EditMessageRequest(**edit, message_id=chat.messages[1].id),
             Status.FAILED_PRECONDITION, "last user message"),
            (live.v1.EditMessage, pb.EditMessageRequest(**edit, message_id=other.messages[1].id),
             Status.NOT_FOUND, "not found"),
            (live.v1.ForkChat,
             pb.ForkChatRequest(user_id=user, chat_id=chat.id, message_id=other.messages[1].id),
             Status.NOT_FOUND, "not found"),
            (live.v1.ForkChat,
             pb.ForkChatRequest(user_id=f"{user}-x", chat_id=chat.id,
                                message_id=chat.messages[1].id),
             Status.NOT_FOUND, "not found"),
            (live.v1.Regenerate, pb.RegenerateRequest(user_id="", chat_id=chat.id),
             Status.INVALID_ARGUMENT, "user_id"),
        ]  # fmt: skip
        for call, message, status, says in refusals:
            with pytest.raises(GRPCError) as refused:
                await call(message)  # type: ignore[operator]
            assert refused.value.status is status and says in (refused.value.message or "")
        assert await live.snapshot(user) == before


async def test_a_fork_carries_on_from_a_message_and_shows_its_window(
    open_live_grpc: LiveGrpcFactory, request: pytest.FixtureRequest
) -> None:
    user = unique_user("grpc-ctl", request)
    async with open_live_grpc() as live:
        chat = await talked(live, user, "first", "second")
        assert chat.window.limit == 128_000 and chat.window.used > 0
        assert chat.window.reserve == chat.params.max_completion_tokens
        assert not chat.HasField("forked_from")
        point = chat.messages[2]
        ask = pb.ForkChatRequest(
            user_id=user, chat_id=chat.id, message_id=point.id, request_id="fork-1"
        )
        fork = await live.v1.ForkChat(ask)
        assert (fork.forked_from.chat_id, fork.forked_from.message_id) == (chat.id, point.id)
        assert [m.content for m in fork.messages] == [m.content for m in chat.messages[:3]]
        assert fork.window.used < chat.window.used
        assert await live.v1.ForkChat(ask) == fork
        assert await read(live, user, fork.id) == fork
        listed = await live.v1.ListChats(pb.ListChatsRequest(user_id=user))
        assert len(listed.items) == 2 and not any(c.HasField("window") for c in listed.items)
