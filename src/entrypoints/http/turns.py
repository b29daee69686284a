"""Answering a turn over HTTP: in the background (202), as it streams (SSE), or once stored (JSON).

A turn the request waits for runs in a task of its own (`TurnRunner`, kept by `BackgroundWork`),
never inside the response's task: the response side can then wait for it with a timeout (to send
keep-alive pings) or cancel it the moment the client goes away, and the turn's cleanup (releasing
its claim) is not at the mercy of the server's cancel scopes. A background turn is the service's
(`RunInBackground`): the request only waits until it is under way.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Callable, Iterable
from contextlib import aclosing, suppress
from typing import Annotated, Any, Generic, TypeVar
from urllib.parse import quote

from litestar import Request, Response
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import HeaderParameter
from litestar.response.sse import ServerSentEventMessage

from chatservice.application.background import BackgroundWork
from chatservice.application.background_turns import Failed, NumberedEvent, RunInBackground
from chatservice.application.turn_events import Completed, Delta, TurnEvent
from chatservice.domain.chat import IDEMPOTENCY_KEY_CHARS
from chatservice.domain.errors import ChatServiceError
from chatservice.entrypoints.http.errors import ClientGone, error_responses
from chatservice.entrypoints.http.schemas import BackgroundTurnOut, TurnOut, turn_out
from chatservice.entrypoints.http.sse import PING, EventStream, sse_event

T = TypeVar("T")
#: A turn's events for an idempotency key (`None`: the turn makes one up), with or without
#: deltas: how a route starts its turn (`SendMessage`, or any use case that takes a turn).
StartTurn = Callable[[str | None, bool], AsyncGenerator[TurnEvent, None]]
#: How a stream writes each numbered event of a turn as Server-Sent Events: ours (`sse_event`),
#: or another API's (the OpenAI surface's, several events for one).
ToSse = Callable[[NumberedEvent], Iterable[ServerSentEventMessage]]


def our_events(numbered: NumberedEvent) -> Iterable[ServerSentEventMessage]:
    return (sse_event(numbered),)


class _End:
    pass


class _Ended(RuntimeError):
    """The stream ended: a turn without completing, or a turn's events after their end."""


_END = _End()
log = logging.getLogger(__name__)

IdempotencyKey = Annotated[
    str | None,
    HeaderParameter(
        name="Idempotency-Key",
        required=False,
        min_length=1,
        max_length=IDEMPOTENCY_KEY_CHARS,
        description="Retrying with the same key returns the stored reply instead of a new one",
    ),
]

#: How every route that takes a turn (a message, a regenerate, an edit) answers.
TURN_DESCRIPTION = (
    "With `Accept: text/event-stream` the reply streams as Server-Sent Events: `delta` "
    "events (`{text}`), then `done` (`{message, usage}`), or `error` (`{code, message}`) "
    "for a failure after the first delta, each with its `id` (1, 2, …). A `: ping` "
    'comment keeps idle streams open. With `"background": true` the turn runs in the '
    "service whatever the caller does: 202 once it is under way, with the route to "
    "follow its events (refusals come at once, as errors)."
)


def turn_responses() -> dict[int, ResponseSpec]:
    """The OpenAPI responses of a route that takes a turn."""
    return {
        200: ResponseSpec(
            data_container=TurnOut,
            description="The stored reply and the turn's usage, or the reply as it streams",
            generate_examples=False,
        ),
        202: ResponseSpec(
            data_container=BackgroundTurnOut,
            description="A background turn is under way (or, for a retried request id, "
            "already stored: `status` says which)",
            generate_examples=False,
        ),
        **error_responses(400, 401, 404, 409, 413, 422, 429, 502, 503, 504),
    }


class TurnRunner(Generic[T]):
    """Drives an event stream in a task of its own and hands its events over through a queue."""

    def __init__(self, events: AsyncGenerator[T, None], work: BackgroundWork) -> None:
        self._queue: asyncio.Queue[T | BaseException | _End] = asyncio.Queue()
        self._task = work.start(self._pump(events))

    async def _pump(self, events: AsyncGenerator[T, None]) -> None:
        try:
            async with aclosing(events) as stream:
                async for event in stream:
                    self._queue.put_nowait(event)
        except Exception as error:
            self._queue.put_nowait(error)
        else:
            self._queue.put_nowait(_END)

    async def next(self, idle_seconds: float | None = None) -> T | None:
        """The next event; `None` after `idle_seconds` without one. Raises the stream's error,
        and `RuntimeError` once it has ended."""
        try:
            async with asyncio.timeout(idle_seconds):
                item = await self._queue.get()
        except TimeoutError:
            return None
        if isinstance(item, BaseException):
            raise item
        if isinstance(item, _End):
            raise _Ended
        return item

    async def next_unless_gone(self, request: Request[Any, Any, Any]) -> T:
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
        """Cancel the stream (for a turn, the model call: its claim is released, nothing stored)."""
        self._task.cancel()


async def _wait_for_disconnect(request: Request[Any, Any, Any]) -> None:
    # The body has been read, so the next message the server hands over is the disconnect
    # (or, once the response is sent, the end of the request).
    while (await request.receive())["type"] != "http.disconnect":
        pass


def wants_event_stream(request: Request[Any, Any, Any]) -> bool:
    return "text/event-stream" in request.headers.get("accept", "")


def events_url(user_id: str, chat_id: str, request_id: str) -> str:
    """The path of a turn's events route."""
    parts = (quote(part, safe="") for part in (user_id, chat_id, request_id))
    return "/v1/users/{}/chats/{}/turns/{}/events".format(*parts)


async def answer_turn(
    request: Request[Any, Any, Any],
    user_id: str,
    chat_id: str,
    idempotency_key: str | None,
    background: bool,
    start_turn: StartTurn,
    work: BackgroundWork,
    run_in_background: RunInBackground,
) -> TurnOut | EventStream | Response[BackgroundTurnOut]:
    """Answer a turn as the caller asked: 202 once a `background` turn is under way (its
    request id the caller's idempotency key, or a new one); else SSE when the client accepts
    `text/event-stream`; else the stored reply, as JSON."""
    if background:
        turn = await run_in_background(
            user_id, chat_id, idempotency_key, lambda key: start_turn(key, True)
        )
        url = events_url(user_id, chat_id, turn.request_id)
        return Response(BackgroundTurnOut(turn.request_id, turn.state.value, url), status_code=202)
    streaming = wants_event_stream(request)
    events = start_turn(idempotency_key, streaming)
    if streaming:
        return await stream_turn(request, events, work, request.app.state.sse_ping_seconds)
    return turn_out((await complete_turn(request, events, work)).reply)


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


async def stream_turn(
    request: Request[Any, Any, Any],
    events: AsyncGenerator[TurnEvent, None],
    work: BackgroundWork,
    ping_seconds: float,
    to_sse: ToSse = our_events,
) -> EventStream:
    """An SSE response for a turn, sent once the first delta is there. Errors before it raise (an
    HTTP error status); after it they become an `error` event, and the client discards the deltas
    it showed."""
    runner = TurnRunner(events, work)
    try:
        while not isinstance(first := await runner.next_unless_gone(request), Delta | Completed):
            pass  # `Accepted`: the model has not answered yet
    except BaseException:
        runner.cancel()
        raise
    # From here on the streaming response watches for the disconnect itself.
    return EventStream(
        _numbered(runner, first, ping_seconds, to_sse), headers={"Cache-Control": "no-store"}
    )


async def _numbered(
    runner: TurnRunner[TurnEvent], first: TurnEvent, ping_seconds: float, to_sse: ToSse
) -> AsyncGenerator[ServerSentEventMessage, None]:
    """The turn's events as SSE, numbered 1, 2, …; its cancellation when the client leaves."""
    event: TurnEvent | None = first
    number = 0
    try:
        while True:
            if event is None:
                yield PING
            elif isinstance(event, Delta):
                number += 1
                for message in to_sse(NumberedEvent(number, event)):
                    yield message
            elif isinstance(event, Completed):
                for message in to_sse(NumberedEvent(number + 1, event)):
                    yield message
                return
            try:
                event = await runner.next(ping_seconds)
            except Exception as error:
                for message in to_sse(NumberedEvent(number + 1, _failed(error))):
                    yield message
                return
    finally:
        # Runs when the client disconnects too: the turn is cancelled, not left to finish.
        with suppress(Exception):
            runner.cancel()


def follow_turn(
    events: AsyncGenerator[NumberedEvent, None],
    work: BackgroundWork,
    ping_seconds: float,
    to_sse: ToSse = our_events,
) -> EventStream:
    """An SSE response of a turn's numbered events, as `WatchTurn` reads them."""
    runner = TurnRunner(events, work)
    return EventStream(
        _followed(runner, ping_seconds, to_sse), headers={"Cache-Control": "no-store"}
    )


async def _followed(
    runner: TurnRunner[NumberedEvent], ping_seconds: float, to_sse: ToSse
) -> AsyncGenerator[ServerSentEventMessage, None]:
    last = 0
    try:
        while True:
            try:
                numbered = await runner.next(ping_seconds)
            except _Ended:
                return
            except Exception as error:
                for message in to_sse(NumberedEvent(last + 1, _failed(error))):
                    yield message
                return
            if numbered is None:
                yield PING
                continue
            last = numbered.id
            for message in to_sse(numbered):
                yield message
    finally:
        # The reader stops with the response: a follower going away touches no turn.
        with suppress(Exception):
            runner.cancel()


def _failed(error: Exception) -> Failed:
    if isinstance(error, ChatServiceError):
        return Failed(error.code, error.message)
    log.error("a turn's event stream failed unexpectedly", exc_info=error)
    return Failed("internal", "internal error")
