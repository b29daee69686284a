"""`/v1/users/{user_id}/chats`: the current HTTP API."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Annotated, Any, ClassVar

from litestar import Controller, Request, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.response import ServerSentEvent

from chatservice.application.background import BackgroundWork
from chatservice.application.background_turns import RunInBackground
from chatservice.application.chats import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    DeleteChat,
    EndChat,
    GetChat,
    ListChats,
    StartChat,
)
from chatservice.application.turn_events import TurnEvent
from chatservice.application.turns import SendMessage
from chatservice.domain.search import MAX_QUERY_CHARS
from chatservice.entrypoints.http.errors import error_responses
from chatservice.entrypoints.http.schemas import (
    BackgroundTurnOut,
    ChatOut,
    ChatPageOut,
    NewChat,
    NewMessage,
    TurnOut,
    chat_out,
    requested_params,
    summary_out,
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


class ChatsController(Controller):
    path = "/v1/users/{user_id:str}/chats"
    tags: ClassVar[list[str]] = ["chats"]  # type: ignore[misc]

    @post(
        "/",
        status_code=201,
        summary="Start a chat",
        # 413: a body over `max_body_bytes`.
        responses=error_responses(400, 401, 409, 413, 503),
    )
    async def start(
        self,
        user_id: UserId,
        start_chat: NamedDependency[StartChat],
        data: JSONBody[NewChat | None] = None,
    ) -> ChatOut:
        data = data or NewChat()
        asked = requested_params(data.params)
        return chat_out(
            await start_chat(user_id, data.system_message, data.model, asked, data.memory)
        )

    @get(
        "/",
        summary="List the user's chats, newest first, or search them (`q`)",
        responses=error_responses(400, 401, 503),
    )
    async def list(
        self,
        user_id: UserId,
        list_chats: NamedDependency[ListChats],
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
        cursor: FromQuery[str | None] = None,
        q: Annotated[
            str | None,
            QueryParameter(
                max_length=MAX_QUERY_CHARS,
                description="Only the chats with a message holding each of these words "
                "(letters and digits), in any case",
            ),
        ] = None,
    ) -> ChatPageOut:
        page = await list_chats(user_id, limit, cursor, q)
        return ChatPageOut([summary_out(c) for c in page.items], page.next_cursor)

    @get(
        "/{chat_id:str}",
        summary="A chat with every message, erased ones included",
        responses=error_responses(400, 401, 404, 503),
    )
    async def read(
        self,
        user_id: UserId,
        chat_id: ChatId,
        get_chat: NamedDependency[GetChat],
    ) -> ChatOut:
        return chat_out(await get_chat(user_id, chat_id))

    @post(
        "/{chat_id:str}/messages",
        status_code=200,
        summary="Send a message and receive the reply",
        description=TURN_DESCRIPTION,
        responses=turn_responses(),
        operation_class=JsonOrEventStreamOperation,
    )
    async def send(
        self,
        request: Request[Any, Any, Any],
        user_id: UserId,
        chat_id: ChatId,
        data: JSONBody[NewMessage],
        send_message: NamedDependency[SendMessage],
        background_work: NamedDependency[BackgroundWork],
        run_in_background: NamedDependency[RunInBackground],
        idempotency_key: IdempotencyKey = None,
    ) -> TurnOut | ServerSentEvent | Response[BackgroundTurnOut]:
        def start_turn(key: str | None, deltas: bool) -> AsyncGenerator[TurnEvent, None]:
            return send_message(user_id, chat_id, data.content, key, deltas=deltas)

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
        "/{chat_id:str}/end",
        status_code=200,
        summary="End a chat: it keeps its history but takes no more messages",
        responses=error_responses(400, 401, 404, 409, 503),
    )
    async def end(
        self,
        user_id: UserId,
        chat_id: ChatId,
        end_chat: NamedDependency[EndChat],
    ) -> ChatOut:
        return chat_out(await end_chat(user_id, chat_id))

    @delete(
        "/{chat_id:str}",
        status_code=204,
        summary="Delete a chat and all its messages for good",
        responses=error_responses(400, 401, 404, 409, 503),
    )
    async def remove(
        self, user_id: UserId, chat_id: ChatId, delete_chat: NamedDependency[DeleteChat]
    ) -> None:
        await delete_chat(user_id, chat_id)
