"""A turn's events as Server-Sent Events (`id:`, `event:`, a JSON `data:` line), and how the
OpenAPI schema describes them.

Every event of a turn carries its id, 1, 2, … within the turn: `delta`s, then `done` or `error`.
A client that lost its connection resumes from the last id it got (docs/api.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
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

from chatservice.application.background_turns import NumberedEvent
from chatservice.application.turn_events import Completed, Delta
from chatservice.entrypoints.http.schemas import turn_out

#: The comment that keeps an idle stream open through proxies.
PING = ServerSentEventMessage(comment="ping", data=None)


class EventStream(ServerSentEvent):
    """An SSE response that keeps its media type when returned from a JSON route.

    Litestar's `Stream.to_asgi_response` lets the route's media type (JSON) win over the
    response's own, so a route that answers both JSON and SSE would label its stream JSON.
    """

    def to_asgi_response(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["media_type"] = self.media_type
        return super().to_asgi_response(*args, **kwargs)


def sse_event(numbered: NumberedEvent) -> ServerSentEventMessage:
    """`delta` (`{text}`), `done` (`{message, usage}`) or `error` (`{code, message}`), with
    its id."""
    event = numbered.event
    payload: object
    if isinstance(event, Delta):
        name, payload = "delta", {"text": event.text}
    elif isinstance(event, Completed):
        name, payload = "done", turn_out(event.reply)
    else:
        name, payload = "error", {"code": event.code, "message": event.message}
    data = msgspec.json.encode(payload).decode()
    return ServerSentEventMessage(data=data, event=name, id=str(numbered.id))


def _event_schema(name: str, payload: Schema | Reference, description: str) -> Schema:
    """One Server-Sent Event (`id:`, `event:` and a JSON `data:` line) as OpenAPI 3.1 says it."""
    return Schema(
        type=OpenAPIType.OBJECT,
        required=["id", "event", "data"],
        properties={
            "id": Schema(
                type=OpenAPIType.STRING,
                pattern="^[1-9][0-9]*$",
                description="1, 2, … within the turn; resume after it with `Last-Event-ID`",
            ),
            "event": Schema(const=name),
            "data": Schema(
                type=OpenAPIType.STRING,
                content_media_type="application/json",
                content_schema=payload,
            ),
        },
        description=description,
    )


TURN_EVENT = Schema(
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
            "The turn failed or was cancelled after it started: nothing is stored; discard the "
            "deltas shown. The last event",
        ),
    ],
    description="One Server-Sent Event of a turn; `: ping` comments keep the stream open",
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
        success.content["text/event-stream"] = OpenAPIMediaType(schema=TURN_EVENT)


@dataclass
class EventStreamOperation(Operation):
    """The OpenAPI operation of a route that answers an event stream only."""

    def __post_init__(self) -> None:
        success = (self.responses or {}).get("200")
        assert isinstance(success, OpenAPIResponse)
        success.content = {"text/event-stream": OpenAPIMediaType(schema=TURN_EVENT)}
