"""`/openai/v1/responses`: parse, call the use cases, answer in
OpenAI's shapes (`schemas.py`, `events.py`). The user is the `X-Chatservice-User` header (the
SDK's `default_headers`), else the body's `safety_identifier` or `user`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

from litestar import Controller, Request, delete, get, post
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIResponse, OpenAPIType, Operation, Schema
from litestar.params import FromPath, FromQuery, HeaderParameter, JSONBody, QueryParameter

from chatservice.application.background import BackgroundWork
from chatservice.application.background_turns import TurnOutcome
from chatservice.application.conversations import (
    DEFAULT_ITEMS,
    MAX_ITEMS,
)
from chatservice.application.live_turns import TurnState
from chatservice.application.responses import CreateResponse, NewResponse
from chatservice.application.stored_responses import (
    CancelResponse,
    DeleteResponse,
    GetResponse,
    ListInputItems,
    WatchResponse,
)
from chatservice.domain.turn import Truncation, TurnOptions
from chatservice.entrypoints.auth import check_user
from chatservice.entrypoints.http.openai.errors import (
    OPENAI_PREFIX,
    InvalidParam,
    openai_error_responses,
)
from chatservice.entrypoints.http.openai.events import ResponseEvents, turn_events_after
from chatservice.entrypoints.http.openai.schemas import (
    ConversationRef,
    DeletedOut,
    ItemListOut,
    ResponseCreate,
    ResponseOut,
    item_list_out,
    response_out,
)
from chatservice.entrypoints.http.sse import EventStream
from chatservice.entrypoints.http.turns import complete_turn, follow_turn, stream_turn

ResponseId = FromPath[str]
UserHeader = Annotated[
    str | None,
    HeaderParameter(
        name="X-Chatservice-User",
        required=False,
        description="The user the request is for (else the body's safety_identifier or user)",
    ),
]
#: The largest sequence number a client can have got (counted in a 64-bit integer elsewhere).
_MAX_SEQUENCE = 2**63 - 1

_STREAM_EVENT = Schema(
    type=OpenAPIType.OBJECT,
    required=["event", "data"],
    properties={
        "event": Schema(type=OpenAPIType.STRING, description="The event's `type`"),
        "data": Schema(
            type=OpenAPIType.STRING,
            content_media_type="application/json",
            description="The event: `type`, `sequence_number`, and its OpenAI fields",
        ),
    },
    description="One event of OpenAI's response stream",
)


@dataclass
class JsonOrResponseStreamOperation(Operation):
    """A route that answers JSON, or OpenAI's event stream when asked (`stream`)."""

    def __post_init__(self) -> None:
        success = (self.responses or {}).get("200")
        assert isinstance(success, OpenAPIResponse) and success.content is not None
        success.content["text/event-stream"] = OpenAPIMediaType(schema=_STREAM_EVENT)


def user_of(header: str | None, *body_users: str | None) -> str:
    user = next((u for u in (header, *body_users) if u is not None), None)
    if user is None:
        raise InvalidParam(
            "user",
            "say whose request this is: the X-Chatservice-User header, or safety_identifier "
            "or user in the body",
        )
    check_user(user)
    return user


def _new_response(user_id: str, data: ResponseCreate) -> NewResponse:
    if data.store is False:
        raise InvalidParam(
            "store", "store false is not served: every response is stored in its conversation"
        )
    conversation = data.conversation
    if isinstance(conversation, ConversationRef):
        conversation = conversation.id
    return NewResponse(
        user_id=user_id,
        input=data.input if isinstance(data.input, str) else [i.message() for i in data.input],
        model=data.model,
        options=TurnOptions(
            data.instructions,
            data.max_output_tokens,
            data.temperature,
            data.top_p,
            Truncation(data.truncation or Truncation.AUTO),
        ),
        metadata=data.metadata,
        conversation=conversation,
        previous_response_id=data.previous_response_id,
        background=bool(data.background),
    )


_ANSWER = {
    200: ResponseSpec(
        data_container=ResponseOut,
        description="The response, or with `stream` its events",
        generate_examples=False,
    )
}


class OpenAIResponsesController(Controller):
    path = OPENAI_PREFIX
    tags: ClassVar[list[str]] = ["openai"]  # type: ignore[misc]

    @post(
        "/responses",
        status_code=200,
        summary="Create a response (OpenAI's Responses API)",
        responses={
            **_ANSWER,
            **openai_error_responses(400, 401, 404, 409, 413, 422, 429, 502, 503, 504),
        },
        operation_class=JsonOrResponseStreamOperation,
    )
    async def create(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[ResponseCreate],
        create_response: NamedDependency[CreateResponse],
        watch_response: NamedDependency[WatchResponse],
        background_work: NamedDependency[BackgroundWork],
        user: UserHeader = None,
    ) -> ResponseOut | EventStream:
        new = _new_response(user_of(user, data.safety_identifier, data.user), data)
        ping = request.app.state.sse_ping_seconds
        started = await create_response(new, deltas=bool(data.stream))
        record = started.record
        if started.events is None:  # in the background
            if data.stream:
                _, events = await watch_response(record.user_id, record.id)
                return follow_turn(events, background_work, ping, ResponseEvents(record))
            return response_out(record, TurnOutcome(TurnState.RUNNING))
        if data.stream:
            return await stream_turn(
                request, started.events, background_work, ping, ResponseEvents(record)
            )
        completed = await complete_turn(request, started.events, background_work)
        return response_out(record, TurnOutcome(TurnState.COMPLETED, completed.reply))

    @get(
        "/responses/{response_id:str}",
        summary="A response; with `stream` its events after `starting_after`",
        responses={**_ANSWER, **openai_error_responses(400, 401, 404, 410, 503)},
        operation_class=JsonOrResponseStreamOperation,
    )
    async def retrieve(
        self,
        request: Request[Any, Any, Any],
        response_id: ResponseId,
        get_response: NamedDependency[GetResponse],
        watch_response: NamedDependency[WatchResponse],
        background_work: NamedDependency[BackgroundWork],
        user: UserHeader = None,
        stream: FromQuery[bool] = False,
        starting_after: Annotated[
            int | None, QueryParameter(ge=0, le=_MAX_SEQUENCE, description="A sequence number")
        ] = None,
    ) -> ResponseOut | EventStream:
        user_id = user_of(user)
        if not stream:
            view = await get_response(user_id, response_id)
            return response_out(view.record, view.outcome)
        after = -1 if starting_after is None else starting_after
        record, events = await watch_response(user_id, response_id, turn_events_after(after))
        ping = request.app.state.sse_ping_seconds
        return follow_turn(events, background_work, ping, ResponseEvents(record, after))

    @delete(
        "/responses/{response_id:str}",
        status_code=200,
        summary="Delete a response (its conversation keeps its messages)",
        responses=openai_error_responses(400, 401, 404, 503),
    )
    async def remove(
        self,
        response_id: ResponseId,
        delete_response: NamedDependency[DeleteResponse],
        user: UserHeader = None,
    ) -> DeletedOut:
        await delete_response(user_of(user), response_id)
        return DeletedOut(response_id, True, "response")

    @post(
        "/responses/{response_id:str}/cancel",
        status_code=200,
        summary="Cancel a background response: it stores nothing",
        responses=openai_error_responses(400, 401, 404, 409, 503),
    )
    async def cancel(
        self,
        response_id: ResponseId,
        cancel_response: NamedDependency[CancelResponse],
        user: UserHeader = None,
    ) -> ResponseOut:
        view = await cancel_response(user_of(user), response_id)
        return response_out(view.record, view.outcome)

    @get(
        "/responses/{response_id:str}/input_items",
        summary="A response's input: its user message, once stored",
        responses=openai_error_responses(400, 401, 404, 503),
    )
    async def input_items(
        self,
        response_id: ResponseId,
        list_input_items: NamedDependency[ListInputItems],
        user: UserHeader = None,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_ITEMS)] = DEFAULT_ITEMS,
        order: FromQuery[Literal["asc", "desc"]] = "desc",
        after: FromQuery[str | None] = None,
    ) -> ItemListOut:
        # One item at most, so `limit`, `order` and `after` change nothing but an `after` of it.
        items = await list_input_items(user_of(user), response_id)
        if after is not None:
            items = []
        return item_list_out(items)
