"""gRPC twins of the data life cycle: ListChats with a search `query`, ExportChat's transcript."""

from __future__ import annotations

import pytest
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from chatservice.entrypoints.grpc.generated import chatservice_v1_pb2 as pb
from support.grpc import LiveGrpc, LiveGrpcFactory
from support.http import unique_user


async def _chat_saying(live: LiveGrpc, user_id: str, content: str) -> str:
    chat = await live.v1.CreateChat(pb.CreateChatRequest(user_id=user_id))
    await live.v1.SendMessage(
        pb.SendMessageRequest(user_id=user_id, chat_id=chat.id, content=content)
    )
    return str(chat.id)


async def test_list_chats_with_a_query_searches_the_users_chats(
    open_live_grpc: LiveGrpcFactory, request: pytest.FixtureRequest
) -> None:
    u, other = unique_user("u", request), unique_user("other", request)
    async with open_live_grpc() as live:
        wombat = await _chat_saying(live, u, "All about Wombats")
        await _chat_saying(live, u, "All about koalas")
        await _chat_saying(live, other, "wombats again")

        found = await live.v1.ListChats(pb.ListChatsRequest(user_id=u, query="WOMBATS"))
        everything = await live.v1.ListChats(pb.ListChatsRequest(user_id=u))

        assert [c.id for c in found.items] == [wombat]
        assert len(everything.items) == 2
        with pytest.raises(GRPCError) as refused:
            await live.v1.ListChats(pb.ListChatsRequest(user_id=u, query="  ?! "))
        assert refused.value.status is Status.INVALID_ARGUMENT


async def test_export_chat_is_the_markdown_transcript(
    open_live_grpc: LiveGrpcFactory, request: pytest.FixtureRequest
) -> None:
    u = unique_user("u", request)
    async with open_live_grpc() as live:
        chat_id = await _chat_saying(live, u, "What is a wombat?")

        exported = await live.v1.ExportChat(pb.ExportChatRequest(user_id=u, chat_id=chat_id))

        assert exported.markdown.startswith("# What is a wombat?\n")
        assert "## User · #1" in exported.markdown
        with pytest.raises(GRPCError) as refused:
            await live.v1.ExportChat(
                pb.ExportChatRequest(user_id=unique_user("other", request), chat_id=chat_id)
            )
        assert refused.value.status is Status.NOT_FOUND
