"""A response's stream as OpenAI's event sequence, each event with its `sequence_number`.

A response's turn numbers its events 1, 2, … (its deltas, then its end: `NumberedEvent`); the
response's stream is that, framed: `response.created`, `response.in_progress`,
`response.output_item.added` and `response.content_part.added` (0 to 3), one
`response.output_text.delta` per delta (the turn's event N is sequence number 3 + N), then
`response.output_text.done`, `response.content_part.done`, `response.output_item.done` and
`response.completed` from the turn's end on, or `response.failed`. So a stream resumed after
sequence number N (`starting_after`) is the turn's events after N - 3, framed again, and the
numbers of a live and a resumed stream agree.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec
from litestar.response.sse import ServerSentEventMessage

from chatservice.application.background_turns import Failed, NumberedEvent, TurnOutcome
from chatservice.application.live_turns import CANCELLED, TurnError, TurnState
from chatservice.application.turn_events import Completed, Delta
from chatservice.domain.responses import ResponseRecord
from chatservice.entrypoints.http.openai.schemas import (
    TextOut,
    output_message,
    reply_item_id,
    response_out,
)

#: How many events come before the first delta: the turn's event N is sequence number
#: `FRAMING + N - 1`.
FRAMING = 4


def turn_events_after(starting_after: int) -> int:
    """The id of the last turn event a client has who has the events up to `starting_after`."""
    return max(0, starting_after - (FRAMING - 1))


class ResponseEvents:
    """Writes a response's events after sequence number `after` (-1: all of them), given its
    turn's numbered events in order: call it with each (`litestar`'s SSE messages)."""

    def __init__(self, record: ResponseRecord, after: int = -1) -> None:
        self._record = record
        self._after = after
        self._framed = False

    def __call__(self, numbered: NumberedEvent) -> Iterable[ServerSentEventMessage]:
        messages = [] if self._framed else self._framing()
        self._framed = True
        event = numbered.event
        base = FRAMING - 1 + numbered.id
        if isinstance(event, Delta):
            messages.append((base, self._delta(event.text)))
        elif isinstance(event, Completed):
            messages.extend(enumerate(self._completed(event), start=base))
        else:
            messages.append((base, self._failed(event)))
        return [_sse(number, body) for number, body in messages if number > self._after]

    def _framing(self) -> list[tuple[int, dict[str, Any]]]:
        running = _plain(response_out(self._record, TurnOutcome(TurnState.RUNNING)))
        item = _plain(output_message(self._record, "", "in_progress"))
        item["content"] = []
        return [
            (0, {"type": "response.created", "response": running}),
            (1, {"type": "response.in_progress", "response": running}),
            (2, {"type": "response.output_item.added", "output_index": 0, "item": item}),
            (3, {"type": "response.content_part.added", **self._part(TextOut(""))}),
        ]

    def _part(self, part: TextOut) -> dict[str, Any]:
        return {
            "item_id": reply_item_id(self._record),
            "output_index": 0,
            "content_index": 0,
            "part": _plain(part),
        }

    def _delta(self, text: str) -> dict[str, Any]:
        return {
            "type": "response.output_text.delta",
            "item_id": reply_item_id(self._record),
            "output_index": 0,
            "content_index": 0,
            "delta": text,
            "logprobs": [],
        }

    def _completed(self, event: Completed) -> list[dict[str, Any]]:
        text = event.reply.content
        done = _plain(response_out(self._record, TurnOutcome(TurnState.COMPLETED, event.reply)))
        return [
            {
                "type": "response.output_text.done",
                "item_id": reply_item_id(self._record),
                "output_index": 0,
                "content_index": 0,
                "text": text,
                "logprobs": [],
            },
            {"type": "response.content_part.done", **self._part(TextOut(text))},
            {
                "type": "response.output_item.done",
                "output_index": 0,
                "item": _plain(output_message(self._record, text, "completed")),
            },
            {"type": "response.completed", "response": done},
        ]

    def _failed(self, event: Failed) -> dict[str, Any]:
        state = TurnState.CANCELLED if event.code == CANCELLED else TurnState.FAILED
        outcome = TurnOutcome(state, error=TurnError(event.code, event.message))
        return {"type": "response.failed", "response": _plain(response_out(self._record, outcome))}


def _plain(struct: msgspec.Struct) -> dict[str, Any]:
    plain: dict[str, Any] = msgspec.to_builtins(struct)
    return plain


def _sse(number: int, body: dict[str, Any]) -> ServerSentEventMessage:
    body["sequence_number"] = number
    return ServerSentEventMessage(data=msgspec.json.encode(body).decode(), event=body["type"])
