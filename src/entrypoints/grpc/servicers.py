"""The gRPC services: the original `pb.ChatService` and `chatservice.v1.ChatService`.

Each method parses its request, calls one use case inside `grpc_status()` and maps the result.
Client cancellation and deadlines cancel the handler's task, and with it the turn and the model
call; the turn then releases its claim and stores nothing.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

from grpclib.server import Stream

from chatservice.application.background_turns import CancelTurn, RunInBackground, WatchTurn
from chatservice.application.chats import (
    DEFAULT_PAGE_SIZE,
    DeleteChat,
    EndChat,
    GetChat,
    ListChats,
    StartChat,
)
from chatservice.application.conversation_control import EditMessage, ForkChat, RegenerateReply
from chatservice.application.first_turn import StartChatWithMessage
from chatservice.application.transcript import markdown_transcript
from chatservice.application.turn_events import ChatStarted, Completed, Delta, TurnEvent
from chatservice.application.turns import SendMessage
from chatservice.application.usage_reports import ReportUsage
from chatservice.entrypoints.grpc.errors import grpc_status
from chatservice.entrypoints.grpc.generated import chat_grpc, chat_pb2, chatservice_v1_grpc
from chatservice.entrypoints.grpc.generated import chatservice_v1_pb2 as pb
from chatservice.entrypoints.grpc.messages import (
    chat_pb,
    completed_pb,
    requested_params,
    shown_chat_pb,
    turn_event_pb,
    usage_report_pb,
)


async def _request(stream: Stream[Any, Any]) -> Any:
    request = await stream.recv_message()
    assert request is not None  # unary requests always carry a message
    return request


class CompatChatService(chat_grpc.ChatServiceBase):
    """The original contract: every response carries the reply's cumulative content."""

    def __init__(self, send_message: SendMessage, start_with_message: StartChatWithMessage) -> None:
        self._send_message = send_message
        self._start_with_message = start_with_message

    async def ChatStream(self, stream: Stream[chat_pb2.ChatRequest, chat_pb2.ChatResponse]) -> None:
        request: chat_pb2.ChatRequest = await _request(stream)
        user_id, chat_id = request.user_id, request.chat_id
        # Only an absent chat_id starts a chat: an unknown one is NOT_FOUND, never a new chat.
        if request.HasField("chat_id") and chat_id:
            events = self._send_message(user_id, chat_id, request.user_message)
        else:
            events = self._start_with_message(user_id, request.user_message)
        content = ""
        async with grpc_status(), aclosing(events) as turn:
            async for event in turn:
                if isinstance(event, ChatStarted):
                    chat_id = event.chat_id
                elif isinstance(event, Delta):
                    content += event.text
                    await stream.send_message(
                        chat_pb2.ChatResponse(chat_id=chat_id, user_id=user_id, content=content)
                    )


@dataclass(frozen=True)
class ConversationControl:
    """The use cases of conversation control."""

    regenerate_reply: RegenerateReply
    edit_message: EditMessage
    fork_chat: ForkChat


#: A turn's events for an idempotency key (`None`: the turn makes one up).
_StartTurn = Callable[[str | None], AsyncGenerator[TurnEvent, None]]


class ChatServiceV1(chatservice_v1_grpc.ChatServiceBase):
    def __init__(
        self,
        start_chat: StartChat,
        send_message: SendMessage,
        list_chats: ListChats,
        get_chat: GetChat,
        end_chat: EndChat,
        delete_chat: DeleteChat,
        run_in_background: RunInBackground,
        watch_turn: WatchTurn,
        cancel_turn: CancelTurn,
        control: ConversationControl,
        report_usage: ReportUsage,
    ) -> None:
        self._control = control
        self._report_usage = report_usage
        self._start_chat = start_chat
        self._send_message = send_message
        self._list_chats = list_chats
        self._get_chat = get_chat
        self._end_chat = end_chat
        self._delete_chat = delete_chat
        self._run_in_background = run_in_background
        self._watch_turn = watch_turn
        self._cancel_turn = cancel_turn

    async def CreateChat(self, stream: Stream[pb.CreateChatRequest, pb.Chat]) -> None:
        request: pb.CreateChatRequest = await _request(stream)
        async with grpc_status():
            view = await self._start_chat(
                request.user_id,
                request.system_message if request.HasField("system_message") else None,
                request.model if request.HasField("model") else None,
                requested_params(request.params),
                request.memory if request.HasField("memory") else None,
            )
        await stream.send_message(shown_chat_pb(view))

    async def SendMessage(
        self, stream: Stream[pb.SendMessageRequest, pb.SendMessageResponse]
    ) -> None:
        request: pb.SendMessageRequest = await _request(stream)
        user_id, chat_id, content = request.user_id, request.chat_id, request.content
        await self._answer_turn(
            stream,
            request,
            lambda key: self._send_message(user_id, chat_id, content, key),
        )

    async def Regenerate(
        self, stream: Stream[pb.RegenerateRequest, pb.SendMessageResponse]
    ) -> None:
        request: pb.RegenerateRequest = await _request(stream)
        user_id, chat_id = request.user_id, request.chat_id
        await self._answer_turn(
            stream,
            request,
            lambda key: self._control.regenerate_reply(user_id, chat_id, key),
        )

    async def EditMessage(
        self, stream: Stream[pb.EditMessageRequest, pb.SendMessageResponse]
    ) -> None:
        request: pb.EditMessageRequest = await _request(stream)
        user_id, chat_id, message_id = request.user_id, request.chat_id, request.message_id
        await self._answer_turn(
            stream,
            request,
            lambda key: self._control.edit_message(
                user_id, chat_id, message_id, request.content, key
            ),
        )

    async def ForkChat(self, stream: Stream[pb.ForkChatRequest, pb.Chat]) -> None:
        request: pb.ForkChatRequest = await _request(stream)
        key = request.request_id if request.HasField("request_id") else None
        async with grpc_status():
            fork = await self._control.fork_chat(
                request.user_id, request.chat_id, request.message_id, key
            )
        await stream.send_message(shown_chat_pb(fork))

    async def _answer_turn(
        self,
        stream: Stream[Any, pb.SendMessageResponse],
        request: pb.SendMessageRequest | pb.RegenerateRequest | pb.EditMessageRequest,
        start_turn: _StartTurn,
    ) -> None:
        """Answer a turn as `request` asks: one `accepted` once a background turn is under
        way, else its deltas and then `completed`."""
        # The proto's `request_id` is the idempotency key (its wire name stays).
        key = request.request_id if request.HasField("request_id") else None
        if request.background:
            async with grpc_status():
                turn = await self._run_in_background(
                    request.user_id, request.chat_id, key, start_turn
                )
            accepted = pb.Accepted(request_id=turn.request_id, status=turn.state.value)
            await stream.send_message(pb.SendMessageResponse(accepted=accepted))
            return
        events = start_turn(key)
        async with grpc_status(), aclosing(events) as taken:
            async for event in taken:
                if isinstance(event, Delta):
                    await stream.send_message(
                        pb.SendMessageResponse(delta=pb.Delta(text=event.text))
                    )
                elif isinstance(event, Completed):
                    await stream.send_message(pb.SendMessageResponse(completed=completed_pb(event)))

    async def WatchTurn(self, stream: Stream[pb.WatchTurnRequest, pb.TurnEvent]) -> None:
        request: pb.WatchTurnRequest = await _request(stream)
        async with grpc_status():
            events = await self._watch_turn(
                request.user_id, request.chat_id, request.request_id, request.after
            )
            async with aclosing(events) as watched:
                async for numbered in watched:
                    await stream.send_message(turn_event_pb(numbered))

    async def CancelTurn(self, stream: Stream[pb.CancelTurnRequest, pb.CancelTurnResponse]) -> None:
        request: pb.CancelTurnRequest = await _request(stream)
        async with grpc_status():
            await self._cancel_turn(request.user_id, request.chat_id, request.request_id)
        await stream.send_message(pb.CancelTurnResponse())

    async def ListChats(self, stream: Stream[pb.ListChatsRequest, pb.ListChatsResponse]) -> None:
        request: pb.ListChatsRequest = await _request(stream)
        async with grpc_status():
            page = await self._list_chats(
                request.user_id,
                request.limit or DEFAULT_PAGE_SIZE,
                request.cursor or None,
                request.query if request.HasField("query") else None,
            )
        await stream.send_message(
            pb.ListChatsResponse(
                items=[chat_pb(c) for c in page.items], next_cursor=page.next_cursor or ""
            )
        )

    async def GetChat(self, stream: Stream[pb.GetChatRequest, pb.Chat]) -> None:
        request: pb.GetChatRequest = await _request(stream)
        async with grpc_status():
            view = await self._get_chat(request.user_id, request.chat_id)
        await stream.send_message(shown_chat_pb(view))

    async def ExportChat(self, stream: Stream[pb.ExportChatRequest, pb.ExportChatResponse]) -> None:
        request: pb.ExportChatRequest = await _request(stream)
        async with grpc_status():
            view = await self._get_chat(request.user_id, request.chat_id)
        await stream.send_message(pb.ExportChatResponse(markdown=markdown_transcript(view.chat)))

    async def EndChat(self, stream: Stream[pb.EndChatRequest, pb.Chat]) -> None:
        request: pb.EndChatRequest = await _request(stream)
        async with grpc_status():
            view = await self._end_chat(request.user_id, request.chat_id)
        await stream.send_message(shown_chat_pb(view))

    async def DeleteChat(self, stream: Stream[pb.DeleteChatRequest, pb.DeleteChatResponse]) -> None:
        request: pb.DeleteChatRequest = await _request(stream)
        async with grpc_status():
            await self._delete_chat(request.user_id, request.chat_id)
        await stream.send_message(pb.DeleteChatResponse())

    async def GetUsage(self, stream: Stream[pb.GetUsageRequest, pb.UsageReport]) -> None:
        request: pb.GetUsageRequest = await _request(stream)
        async with grpc_status():
            report = await self._report_usage(
                request.user_id,
                request.from_day if request.HasField("from_day") else None,
                request.to_day if request.HasField("to_day") else None,
                request.group_by if request.HasField("group_by") else None,
            )
        await stream.send_message(usage_report_pb(report))
