"""Background turns over gRPC, on a real local port: `SendMessage` with `background`,
`WatchTurn` (the same numbered events as HTTP's events route) and `CancelTurn`."""

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


async def start_in_background(live: LiveGrpc, user: str, chat_id: str, key: str) -> pb.Accepted:
    [response] = await live.v1.SendMessage(
        pb.SendMessageRequest(
            user_id=user,
            chat_id=chat_id,
            content="a story, please",
            request_id=key,
            background=True,
        )
    )
    assert response.WhichOneof("event") == "accepted"
    accepted: pb.Accepted = response.accepted
    return accepted


def text_of(events: list[pb.TurnEvent]) -> str:
    return "".join(e.delta.text for e in events if e.WhichOneof("event") == "delta")


async def test_a_background_turn_is_watched_from_where_the_watcher_left(
    open_live_grpc: LiveGrpcFactory, request: pytest.FixtureRequest
) -> None:
    user = unique_user("grpc-bg", request)
    async with open_live_grpc() as live:
        chat = await live.v1.CreateChat(pb.CreateChatRequest(user_id=user))
        hold = fake(live).hold(after_chunks=3)
        accepted = await start_in_background(live, user, chat.id, "story-1")
        assert (accepted.request_id, accepted.status) == ("story-1", "running")
        await hold.reached()
        async with live.v1.WatchTurn.open() as call:
            await call.send_message(
                pb.WatchTurnRequest(user_id=user, chat_id=chat.id, request_id="story-1"),
                end=True,
            )
            had = [await call.recv_message() for _ in range(2)]
            await call.cancel()  # the watcher goes away after event 2; the turn goes on
        hold.release()
        rest = await live.v1.WatchTurn(
            pb.WatchTurnRequest(user_id=user, chat_id=chat.id, request_id="story-1", after=2)
        )
        assert [e.id for e in had] == [1, 2]
        assert all(e.id > 2 for e in rest)
        done = rest[-1]
        assert done.WhichOneof("event") == "completed"
        stored = await live.v1.GetChat(pb.GetChatRequest(user_id=user, chat_id=chat.id))
        reply = stored.messages[-1].content
        assert text_of([*had, *rest]) == reply == done.completed.reply.content


async def test_a_background_turn_cancelled_over_grpc_stores_nothing(
    open_live_grpc: LiveGrpcFactory, request: pytest.FixtureRequest
) -> None:
    user = unique_user("grpc-bg", request)
    async with open_live_grpc() as live:
        chat = await live.v1.CreateChat(pb.CreateChatRequest(user_id=user))
        before = await live.snapshot(user)
        hold = fake(live).hold(after_chunks=2)
        await start_in_background(live, user, chat.id, "stop-1")
        await hold.reached()
        turn = {"user_id": user, "chat_id": chat.id, "request_id": "stop-1"}
        await live.v1.CancelTurn(pb.CancelTurnRequest(**turn))
        events = await live.v1.WatchTurn(pb.WatchTurnRequest(**turn))
        assert events[-1].WhichOneof("event") == "error"
        assert events[-1].error.code == "cancelled"
        assert await live.snapshot(user) == before
        with pytest.raises(GRPCError) as ended:
            await live.v1.CancelTurn(pb.CancelTurnRequest(**turn))
        assert ended.value.status is Status.FAILED_PRECONDITION
        hold.release()


async def test_unknown_turns_and_unkept_events_have_their_statuses(
    open_live_grpc: LiveGrpcFactory, request: pytest.FixtureRequest
) -> None:
    user = unique_user("grpc-bg", request)
    async with open_live_grpc() as live:
        chat = await live.v1.CreateChat(pb.CreateChatRequest(user_id=user))
        unknown = {"user_id": user, "chat_id": chat.id, "request_id": "nope"}
        for call in (
            live.v1.WatchTurn(pb.WatchTurnRequest(**unknown)),
            live.v1.CancelTurn(pb.CancelTurnRequest(**unknown)),
        ):
            with pytest.raises(GRPCError) as missing:
                await call
            assert missing.value.status is Status.NOT_FOUND
        await live.v1.SendMessage(
            pb.SendMessageRequest(user_id=user, chat_id=chat.id, content="hi", request_id="fg")
        )
        kept = {"user_id": user, "chat_id": chat.id, "request_id": "fg"}
        replayed = await live.v1.WatchTurn(pb.WatchTurnRequest(**kept))
        assert [e.id for e in replayed] == [1, 2]
        with pytest.raises(GRPCError) as expired:
            await live.v1.WatchTurn(pb.WatchTurnRequest(**kept, after=1))
        assert expired.value.status is Status.OUT_OF_RANGE
        with pytest.raises(GRPCError) as busy_or_bad:
            await live.v1.SendMessage(
                pb.SendMessageRequest(
                    user_id=user, chat_id="no-such-chat", content="hi", background=True
                )
            )
        assert busy_or_bad.value.status is Status.NOT_FOUND
