"""Turns and model streams as a `TurnObserver` sees them, from wrappers the use case knows
nothing about: the container puts `ObservedTurn` around `TakeTurn` and `ObservedChatGateway`
around the model's gateway."""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing

from chatservice.application.observability import TurnObserver, TurnReport
from chatservice.application.ports import ChatGateway, CompletionEnd, CompletionRequest, TextDelta
from chatservice.application.turn_events import Completed, TurnEvent
from chatservice.application.turns import Turn
from chatservice.domain.errors import ChatServiceError
from chatservice.domain.prices import ZERO
from chatservice.domain.turn import TurnAction


class ObservedTurn:
    """A `Turn` that reports each turn's start and how it ended, with its tokens and erasures."""

    def __init__(self, turn: Turn, observer: TurnObserver) -> None:
        self._turn = turn
        self._observer = observer

    async def __call__(
        self,
        user_id: str,
        chat_id: str,
        action: TurnAction,
        idempotency_key: str | None,
        deltas: bool,
    ) -> AsyncGenerator[TurnEvent, None]:
        self._observer.turn_started()
        report = TurnReport("cancelled")
        turn = self._turn(user_id, chat_id, action, idempotency_key, deltas)
        try:
            async with aclosing(turn) as events:
                async for event in events:
                    if isinstance(event, Completed):
                        report = _report(event)
                    yield event
        except ChatServiceError as error:
            report = TurnReport(error.code)
            raise
        except Exception:
            report = TurnReport("internal")
            raise
        finally:
            self._observer.turn_ended(report)


def _report(completed: Completed) -> TurnReport:
    if completed.replayed:
        return TurnReport("replayed")
    reply = completed.reply
    return TurnReport(
        "completed",
        completed.model,
        reply.prompt_tokens or 0,
        reply.completion_tokens or 0,
        completed.erased,
        reply.cost or ZERO,
    )


class ObservedChatGateway:
    """A `ChatGateway` that reports how long its model took to the first text and to the end,
    and each request that is a turn's fallback from another model."""

    def __init__(
        self,
        gateway: ChatGateway,
        observer: TurnObserver,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._gateway = gateway
        self._observer = observer
        self._clock = clock

    async def stream(
        self, request: CompletionRequest
    ) -> AsyncGenerator[TextDelta | CompletionEnd, None]:
        if request.fallback_from is not None:
            self._observer.fell_back(request.fallback_from, request.model.name)
        started = self._clock()
        text_arrived = False
        async with aclosing(self._gateway.stream(request)) as events:
            async for event in events:
                if not text_arrived and isinstance(event, TextDelta) and event.text:
                    text_arrived = True
                    self._observer.first_text(self._clock() - started)
                yield event
        self._observer.stream_ended(self._clock() - started)
