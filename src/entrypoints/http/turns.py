"""Running a turn for an HTTP response: to completion (JSON) or as it streams (SSE).

Either way the turn runs in a task of its own (`TurnRunner`, kept by `BackgroundWork`), never
inside the response's task: the response side can then wait for it with a timeout (to send
keep-alive pings) or cancel it the moment the client goes away, and the turn's cleanup (releasing
its claim) is not at the mercy of the server's cancel scopes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator
from contextlib import aclosing, suppress
from dataclasses import dataclass
from typing import Any

import msgspec
from litestar import Request
from litestar.openapi.spec import (
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Reference,
    Schema,
)
from litestar.response import ServerSentEvent
from litestar.response.sse import ServerSentEventMessage

from chatservice.application.background import BackgroundWork
from chatservice.application.turn_events import Completed, Delta, TurnEvent
from chatservice.domain.errors import ChatServiceError
from chatservice.entrypoints.http.errors import ClientGone
from chatservice.entrypoints.http.schemas import turn_out


class _End:
    pass


_END = _End()
log = logging.getLogger(__name__)


class TurnRunner:
    """Drives a turn's events in a task of its own and hands them over through a queue."""

    def __init__(self, events: AsyncGenerator[TurnEvent, None], work: BackgroundWork) -> None:
        self._queue: asyncio.Queue[TurnEvent | BaseException | _End] = asyncio.Queue()
        self._task = work.start(self._pump(events))

    async def _pump(self, events: AsyncGenerator[TurnEvent, None]) -> None:
        try:
            async with aclosing(events) as stream:
                async for event in stream:
                    self._queue.put_nowait(event)
        except Exception as error:
            self._queue.put_nowait(error)
        else:
            self._queue.put_nowait(_END)

    async def next(self, idle_seconds: float | None = None) -> TurnEvent | None:
        """The next event; `None` after `idle_seconds` without one. Raises the turn's error."""
        try:
            async with asyncio.timeout(idle_seconds):
                item = await self._queue.get()
        except TimeoutError:
            return None
        if isinstance(item, BaseException):
            raise item
        if isinstance(item, _End):
            raise RuntimeError("the turn ended without completing")
        return item

    async def next_unless_gone(self, request: Request[Any, Any, Any]) -> TurnEvent:
        """The next event, or `ClientGone` if the client disconnects first (the caller then
        cancels the turn). Raises the turn's error."""
        next_event = asyncio.create_task(self.next())
        disconnected = asyncio.create_task(_wait_for_disconnect(request))
        try:
            await asyncio.wait({next_event, disconnected}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            disconnected.cancel()
            gone = not next_event.done()
            if gone:
                next_event.cancel()
        if gone:
            raise ClientGone
        event = next_event.result()
        assert event is not None  # no timeout was given
        return event

    def cancel(self) -> None:
        """Cancel the turn (and so the model call); its claim is released, nothing stored."""
        self._task.cancel()


async def _wait_for_disconnect(request: Request[Any, Any, Any]) -> None:
    # The body has been read, so the next message the server hands over is the disconnect
    # (or, once the response is sent, the end of the request).
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def complete_turn(
    request: Request[Any, Any, Any], events: AsyncGenerator[TurnEvent, None], work: BackgroundWork
) -> Completed:
    """Run a turn to completion (asked without deltas); if the client disconnects first, cancel
    it and raise `ClientGone`."""
    runner = TurnRunner(events, work)
    try:
        # A new chat's `ChatStarted` comes first; `Completed` names the chat again.
        while not isinstance(event := await runner.next_unless_gone(request), Completed):
            pass
        return event
    finally:
        runner.cancel()


class EventStream(ServerSentEvent):
    """An SSE response that keeps its media type when returned from a JSON route.

    Litestar's `Stream.to_asgi_response` lets the route's media type (JSON) win over the
    response's own, so a route that answers both JSON and SSE would label its stream JSON.
    """

    def to_asgi_response(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["media_type"] = self.media_type
        return super().to_asgi_response(*args, **kwargs)


def _event_schema(name: str, payload: Schema | Reference, description: str) -> Schema:
    """One Server-Sent Event (`event:` and a JSON `data:` line) as OpenAPI 3.1 describes it."""
    return Schema(
        type=OpenAPIType.OBJECT,
        required=["event", "data"],
        properties={
            "event": Schema(const=name),
            "data": Schema(
                type=OpenAPIType.STRING,
                content_media_type="application/json",
                content_schema=payload,
            ),
        },
        description=description,
    )


_TURN_EVENT = Schema(
    one_of=[
        _event_schema(
            "delta",
            Schema(
                type=OpenAPIType.OBJECT,
                required=["text"],
                properties={"text": Schema(type=OpenAPIType.STRING)},
            ),
            "The next piece of the reply",
        ),
        _event_schema(
            "done",
            Reference("#/components/schemas/TurnOut"),
            "The stored reply and the turn's usage; the last event",
        ),
        _event_schema(
            "error",
            Reference("#/components/schemas/ErrorDetail"),
            "The turn failed after the first delta: nothing is stored; discard the deltas shown",
        ),
    ],
    description="One Server-Sent Event of a streamed reply; `: ping` comments keep it open",
)


@dataclass
class JsonOrEventStreamOperation(Operation):
    """The OpenAPI operation of a route that answers JSON or, asked for it, an event stream.

    Litestar documents a `TurnOut | ServerSentEvent` return as one JSON schema, `oneOf` the reply
    and an empty schema (which every body matches); the route declares its JSON success response
    itself and this adds the `text/event-stream` alternative, each event described.
    """

    def __post_init__(self) -> None:
        success = (self.responses or {}).get("200")
        assert isinstance(success, OpenAPIResponse) and success.content is not None
        success.content["text/event-stream"] = OpenAPIMediaType(schema=_TURN_EVENT)


def wants_event_stream(request: Request[Any, Any, Any]) -> bool:
    return "text/event-stream" in request.headers.get("accept", "")


def _sse(event: str, payload: object) -> ServerSentEventMessage:
    return ServerSentEventMessage(data=msgspec.json.encode(payload).decode(), event=event)


async def stream_turn(
    request: Request[Any, Any, Any],
    events: AsyncGenerator[TurnEvent, None],
    work: BackgroundWork,
    ping_seconds: float,
) -> EventStream:
    """An SSE response for a turn, sent once the first delta is there. Errors before it raise (an
    HTTP error status); after it they become an `error` event, and the client discards the deltas
    it showed."""
    runner = TurnRunner(events, work)
    try:
        first = await runner.next_unless_gone(request)
    except BaseException:
        runner.cancel()
        raise
    # From here on the streaming response watches for the disconnect itself.
    return EventStream(
        _sse_events(runner, first, ping_seconds), headers={"Cache-Control": "no-store"}
    )


async def _sse_events(
    runner: TurnRunner, first: TurnEvent | None, ping_seconds: float
) -> AsyncGenerator[ServerSentEventMessage, None]:
    event = first
    try:
        while True:
            if event is None:
                yield ServerSentEventMessage(comment="ping", data=None)
            elif isinstance(event, Delta):
                yield _sse("delta", {"text": event.text})
            elif isinstance(event, Completed):
                yield _sse("done", turn_out(event.reply))
                return
            try:
                event = await runner.next(ping_seconds)
            except ChatServiceError as error:
                yield _sse("error", {"code": error.code, "message": error.message})
                return
            except Exception:
                log.exception("a streamed turn failed unexpectedly")
                yield _sse("error", {"code": "internal", "message": "internal error"})
                return
    finally:
        # Runs when the client disconnects too: the turn is cancelled, not left to finish.
        with suppress(Exception):
            runner.cancel()
