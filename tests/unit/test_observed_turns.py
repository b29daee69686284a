"""What the metrics hear of turns, through the wrappers the container puts around the turn and
the model's gateway (`ObservedTurn`, `ObservedChatGateway`)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import pytest
from dependency_injector import providers

from chatservice.adapters.fake_gateway import FakeChatGateway, ScriptedFailure
from chatservice.application.observability import TurnReport
from chatservice.application.observed import ObservedChatGateway
from chatservice.application.turn_events import Accepted, Completed, Delta
from chatservice.application.turns import SendMessage
from chatservice.domain.errors import (
    InvalidInput,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)
from chatservice.domain.models import ModelRegistry
from chatservice.domain.prices import cost_of
from support.services import Service, build_service


@dataclass
class RecordingObserver:
    started: int = 0
    reports: list[TurnReport] = field(default_factory=list)
    to_first_text: list[float] = field(default_factory=list)
    to_stream_end: list[float] = field(default_factory=list)
    fallbacks: list[tuple[str, str]] = field(default_factory=list)

    def turn_started(self) -> None:
        self.started += 1

    def turn_ended(self, report: TurnReport) -> None:
        self.reports.append(report)

    def first_text(self, seconds: float) -> None:
        self.to_first_text.append(seconds)

    def stream_ended(self, seconds: float) -> None:
        self.to_stream_end.append(seconds)

    def fell_back(self, from_model: str, to_model: str) -> None:
        self.fallbacks.append((from_model, to_model))


@dataclass
class Observed:
    service: Service
    observer: RecordingObserver
    send_message: SendMessage


def observed(turns_per_minute: int = 0, **settings: Any) -> Observed:
    """The use case as the container wires it, its observer recording, over a clock that ticks
    a second a look."""
    service = build_service(turns_per_minute_per_user=turns_per_minute, **settings)
    observer = RecordingObserver()
    container, ticks = service.container, itertools.count()
    container.turn_observer.override(providers.Object(observer))
    container.observed_gateway.override(
        providers.Singleton(
            ObservedChatGateway,
            container.routing_gateway,
            container.turn_observer,
            clock=lambda: float(next(ticks)),
        )
    )
    return Observed(service, observer, service.send_message)


async def test_a_completed_turn_reports_its_model_tokens_and_timings() -> None:
    o = observed()
    chat = await o.service.start_chat("u1")
    [*_, done] = [e async for e in o.send_message("u1", chat.id, "hello")]
    assert isinstance(done, Completed)
    assert o.observer.reports == [
        TurnReport(
            "completed",
            "gpt-4o-mini",
            done.reply.prompt_tokens or 0,
            done.reply.completion_tokens or 0,
            cost=cost_of(
                ModelRegistry().lookup("gpt-4o-mini").prices,
                done.reply.prompt_tokens or 0,
                done.reply.completion_tokens or 0,
            ),
        )
    ]
    assert done.reply.prompt_tokens and done.reply.completion_tokens
    # The clock ticks once at the request, once at the first text, once at the end.
    assert (o.observer.to_first_text, o.observer.to_stream_end) == ([1.0], [2.0])
    assert o.observer.started == 1


async def test_a_replayed_turn_reports_no_tokens_and_no_model_call() -> None:
    o = observed()
    chat = await o.service.start_chat("u1")
    _ = [e async for e in o.send_message("u1", chat.id, "hello", "key-1")]
    _ = [e async for e in o.send_message("u1", chat.id, "hello", "key-1")]
    assert o.observer.reports[1] == TurnReport("replayed")
    assert len(o.observer.to_stream_end) == 1


async def test_a_failed_turn_reports_its_error_code_and_no_stream_end() -> None:
    o = observed()
    chat = await o.service.start_chat("u1")
    o.service.gateway.fail_next(ScriptedFailure(ProviderTimeout("slow"), after_chunks=2))
    with pytest.raises(ProviderTimeout):
        _ = [e async for e in o.send_message("u1", chat.id, "hello")]
    assert o.observer.reports == [TurnReport("provider_timeout")]
    assert (len(o.observer.to_first_text), o.observer.to_stream_end) == (1, [])


async def test_a_caller_leaving_mid_reply_reports_a_cancelled_turn() -> None:
    o = observed()
    chat = await o.service.start_chat("u1")
    events = o.send_message("u1", chat.id, "hello")
    assert isinstance(await anext(events), Accepted)
    assert isinstance(await anext(events), Delta)
    await events.aclose()
    assert o.observer.reports == [TurnReport("cancelled")]


async def test_a_request_refused_at_the_door_is_no_turn() -> None:
    o = observed(turns_per_minute=1)
    chat = await o.service.start_chat("u1")
    with pytest.raises(InvalidInput):
        _ = [e async for e in o.send_message("u1", chat.id, "   ")]
    _ = [e async for e in o.send_message("u1", chat.id, "hello")]
    with pytest.raises(RateLimited):
        _ = [e async for e in o.send_message("u1", chat.id, "again")]
    assert [r.outcome for r in o.observer.reports] == ["completed"]
    assert o.observer.started == 1


async def test_a_fallback_is_reported_from_the_model_that_failed_to_the_one_that_answered() -> None:
    o = observed(
        providers={"own": {"kind": "fake"}, "spare": {"kind": "fake"}},
        models={
            "own-model": {
                "provider": "own",
                "context_window": 8192,
                "max_output": 1024,
                "fallbacks": ["spare-model"],
            },
            "spare-model": {"provider": "spare", "context_window": 8192, "max_output": 1024},
        },
        model="own-model",
    )
    own = o.service.container.gateways()["own"]
    assert isinstance(own, FakeChatGateway)
    own.fail_next(ScriptedFailure(ProviderUnavailable("overloaded"), after_chunks=0))
    chat = await o.service.start_chat("u1")
    [*_, done] = [e async for e in o.send_message("u1", chat.id, "hello")]
    assert isinstance(done, Completed)
    assert o.observer.fallbacks == [("own-model", "spare-model")]
    # The tokens are the answering model's.
    assert [r.model for r in o.observer.reports] == ["spare-model"]
