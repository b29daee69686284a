"""`/v1/users/{user_id}/chats/{chat_id}/turns/{request_id}`: a turn by its request id (its
idempotency key), on any replica: its status, its events (resumable), its cancellation."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, HeaderParameter, QueryParameter

from chatservice.application.background import BackgroundWork
from chatservice.application.background_turns import CancelTurn, GetTurn, WatchTurn
from chatservice.application.live_turns import TurnState
from chatservice.domain.errors import InvalidInput
from chatservice.entrypoints.http.errors import error_responses
from chatservice.entrypoints.http.schemas import (
    BackgroundTurnOut,
    ErrorDetail,
    TurnStatusOut,
    message_out,
)
from chatservice.entrypoints.http.sse import EventStream, EventStreamOperation
from chatservice.entrypoints.http.turns import events_url, follow_turn

UserId = FromPath[str]
ChatId = FromPath[str]
RequestId = FromPath[str]
#: The largest event id a client can have got (ids are counted in a 64-bit integer elsewhere).
_MAX_EVENT_ID = 2**63 - 1


def _last_event_id(header: str | None, after: int | None) -> int:
    """The id after which the client wants the events: `Last-Event-ID` wins over `?after`."""
    if header is None:
        return after or 0
    if not header.isascii() or not header.isdigit() or int(header) > _MAX_EVENT_ID:
        raise InvalidInput("Last-Event-ID must be the id of an event of this turn (0 or more)")
    return int(header)


class TurnsController(Controller):
    path = "/v1/users/{user_id:str}/chats/{chat_id:str}/turns/{request_id:str}"
    tags: ClassVar[list[str]] = ["turns"]  # type: ignore[misc]

    @get(
        "/",
        summary="A turn's status: running, or how it ended, with the stored reply",
        responses=error_responses(400, 401, 404, 503),
    )
    async def status(
        self,
        user_id: UserId,
        chat_id: ChatId,
        request_id: RequestId,
        get_turn: NamedDependency[GetTurn],
    ) -> TurnStatusOut:
        outcome = await get_turn(user_id, chat_id, request_id)
        return TurnStatusOut(
            outcome.state.value,
            message_out(outcome.reply) if outcome.reply is not None else None,
            ErrorDetail(outcome.error.code, outcome.error.message) if outcome.error else None,
        )

    @get(
        "/events",
        summary="A turn's events after the last one the client has, live, then its end",
        description=(
            "Server-Sent Events, each with its `id`: `delta`s, then `done` or `error`. Send "
            "the last id you got as `Last-Event-ID` (or `?after=`; the header wins) to resume "
            "without a gap or a repeat. Once the turn has ended its deltas may come coalesced: "
            "the text after your last id, in one delta, then the end. A turn no longer kept "
            "resumes only from 0 (410 otherwise)."
        ),
        responses={
            200: ResponseSpec(
                data_container=str, description="The turn's events", generate_examples=False
            ),
            **error_responses(400, 401, 404, 410, 503),
        },
        operation_class=EventStreamOperation,
    )
    async def events(
        self,
        request: Request[Any, Any, Any],
        user_id: UserId,
        chat_id: ChatId,
        request_id: RequestId,
        watch_turn: NamedDependency[WatchTurn],
        background_work: NamedDependency[BackgroundWork],
        last_event_id: Annotated[
            str | None,
            HeaderParameter(
                name="Last-Event-ID", required=False, description="The last event id you got"
            ),
        ] = None,
        after: Annotated[
            int | None,
            QueryParameter(ge=0, le=_MAX_EVENT_ID, description="The last event id you got"),
        ] = None,
    ) -> EventStream:
        start = _last_event_id(last_event_id, after)
        events = await watch_turn(user_id, chat_id, request_id, start)
        return follow_turn(events, background_work, request.app.state.sse_ping_seconds)

    @post(
        "/cancel",
        status_code=202,
        summary="Cancel a running turn, wherever it runs: it stores nothing",
        responses=error_responses(400, 401, 404, 409, 503),
    )
    async def cancel(
        self,
        user_id: UserId,
        chat_id: ChatId,
        request_id: RequestId,
        cancel_turn: NamedDependency[CancelTurn],
    ) -> Response[BackgroundTurnOut]:
        await cancel_turn(user_id, chat_id, request_id)
        url = events_url(user_id, chat_id, request_id)
        body = BackgroundTurnOut(request_id, TurnState.RUNNING.value, url)
        return Response(body, status_code=202)
