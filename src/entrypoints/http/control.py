"""`/v1/users/{user_id}/chats/{chat_id}`: conversation control. A new reply to the last
question, new text for it (both turns, answered like a message: JSON, SSE or in the
background), and a fork of the chat from one of its messages."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any, ClassVar

from litestar import Controller, Request, Response, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from litestar.response import ServerSentEvent

from chatservice.application.background import BackgroundWork
from chatservice.application.background_turns import RunInBackground
from chatservice.application.conversation_control import EditMessage, ForkChat, RegenerateReply
from chatservice.application.turn_events import TurnEvent
from chatservice.entrypoints.http.errors import error_responses
from chatservice.entrypoints.http.schemas import (
    BackgroundTurnOut,
    ChatOut,
    ForkIn,
    NewMessage,
    TurnOptions,
    TurnOut,
    chat_out,
)
from chatservice.entrypoints.http.sse import JsonOrEventStreamOperation
from chatservice.entrypoints.http.turns import (
    TURN_DESCRIPTION,
    IdempotencyKey,
    answer_turn,
    turn_responses,
)

UserId = FromPath[str]
ChatId = FromPath[str]
MessageId = FromPath[str]


class ConversationController(Controller):
    path = "/v1/users/{user_id:str}/chats/{chat_id:str}"
    tags: ClassVar[list[str]] = ["conversation control"]  # type: ignore[misc]

    @post(
        "/regenerate",
        status_code=200,
        summary="A new reply to the chat's last user message; the previous one is superseded",
        description="409 `nothing_to_regenerate` for a chat without a user message. "
        + TURN_DESCRIPTION,
        responses=turn_responses(),
        operation_class=JsonOrEventStreamOperation,
    )
    async def regenerate(
        self,
        request: Request[Any, Any, Any],
        user_id: UserId,
        chat_id: ChatId,
        regenerate_reply: NamedDependency[RegenerateReply],
        background_work: NamedDependency[BackgroundWork],
        run_in_background: NamedDependency[RunInBackground],
        data: JSONBody[TurnOptions | None] = None,
        idempotency_key: IdempotencyKey = None,
    ) -> TurnOut | ServerSentEvent | Response[BackgroundTurnOut]:
        def start_turn(key: str | None, deltas: bool) -> AsyncGenerator[TurnEvent, None]:
            return regenerate_reply(user_id, chat_id, key, deltas=deltas)

        background = data.background if data is not None else False
        return await answer_turn(
            request,
            user_id,
            chat_id,
            idempotency_key,
            background,
            start_turn,
            background_work,
            run_in_background,
        )

    @post(
        "/messages/{message_id:str}/edit",
        status_code=200,
        summary="New text for the chat's last user message: it and its reply are superseded, "
        "and the new text is answered",
        description="Only the chat's last user message can be edited (409 "
        "`not_last_user_message` otherwise; 404 `message_not_found` for a message the chat "
        "does not have). " + TURN_DESCRIPTION,
        responses=turn_responses(),
        operation_class=JsonOrEventStreamOperation,
    )
    async def edit(
        self,
        request: Request[Any, Any, Any],
        user_id: UserId,
        chat_id: ChatId,
        message_id: MessageId,
        data: JSONBody[NewMessage],
        edit_message: NamedDependency[EditMessage],
        background_work: NamedDependency[BackgroundWork],
        run_in_background: NamedDependency[RunInBackground],
        idempotency_key: IdempotencyKey = None,
    ) -> TurnOut | ServerSentEvent | Response[BackgroundTurnOut]:
        def start_turn(key: str | None, deltas: bool) -> AsyncGenerator[TurnEvent, None]:
            return edit_message(user_id, chat_id, message_id, data.content, key, deltas=deltas)

        return await answer_turn(
            request,
            user_id,
            chat_id,
            idempotency_key,
            data.background,
            start_turn,
            background_work,
            run_in_background,
        )

    @post(
        "/fork",
        status_code=201,
        summary="A new chat carrying on from a message of this one",
        description=(
            "The new chat has this chat's user, model and parameters, and copies of its "
            "messages up to and including `message_id`, superseded versions left out (erased "
            "flags kept); `forked_from` says where it came from. The original is untouched. A "
            "retry with the same `Idempotency-Key` returns the same fork. 404 for a message "
            "this chat does not have; 409 while a turn runs on the chat, or for a superseded "
            "or erased message."
        ),
        responses=error_responses(400, 401, 404, 409, 413, 422, 503),
    )
    async def fork(
        self,
        user_id: UserId,
        chat_id: ChatId,
        data: JSONBody[ForkIn],
        fork_chat: NamedDependency[ForkChat],
        idempotency_key: IdempotencyKey = None,
    ) -> ChatOut:
        return chat_out(await fork_chat(user_id, chat_id, data.message_id, idempotency_key))
