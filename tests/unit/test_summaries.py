"""Rolling summaries of erased exchanges, over the in-memory repository and the fake model: what
they hold, where prompts carry them, and what a failed or slow summary call does (nothing to
the turns)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

import pytest
from dependency_injector import providers

from chatservice.adapters.fake_gateway import FakeChatGateway
from chatservice.application.ports import CompletionEnd, CompletionRequest, TextDelta
from chatservice.application.summaries import SUMMARY_HEADING, SUMMARY_INSTRUCTIONS
from chatservice.application.turn_events import Completed, run_to_completion
from chatservice.domain.chat import Chat, Role, Usage
from chatservice.domain.errors import InvalidInput, ProviderUnavailable
from chatservice.domain.memory import Memory
from chatservice.domain.tokens import prompt_cost
from support.services import COUNTER, Service, build_service

#: A window a few exchanges fill: most turns erase one.
TINY = {"context_window": 200, "max_completion_tokens": 40, "system_message": "Be brief."}
#: A window a summary fits in beside a few exchanges.
ROOMY = {"context_window": 700, "max_completion_tokens": 60, "summary_max_tokens": 200}


class SummaryGate(FakeChatGateway):
    """The fake model, whose summary calls a test can make fail or hold; replies as ever."""

    def __init__(self) -> None:
        super().__init__(COUNTER, chunk_delay_seconds=0)
        self.failing = False
        self.open = asyncio.Event()
        self.open.set()
        self.summary_calls = 0

    async def stream(
        self, request: CompletionRequest
    ) -> AsyncGenerator[TextDelta | CompletionEnd, None]:
        if request.messages[0].content == SUMMARY_INSTRUCTIONS:
            self.summary_calls += 1
            await self.open.wait()
            if self.failing:
                raise ProviderUnavailable("the summary model is down")
        async for event in super().stream(request):
            yield event


def summarized(overrides: bool = True, **settings: Any) -> Service:
    gate = {"gateway": providers.Singleton(SummaryGate)} if overrides else {}
    return build_service(gate, **settings)


def gate_of(service: Service) -> SummaryGate:
    gateway = service.container.gateway()
    assert isinstance(gateway, SummaryGate)
    return gateway


async def talk(service: Service, chat: Chat, turns: range, filler: int = 0) -> list[Completed]:
    """One turn per number (with `filler` more words), each waited on with the summary it
    started."""
    done = []
    for n in turns:
        text = f"question {n}: tell me about {n}" + " and more" * filler
        events = service.send_message(chat.user_id, chat.id, text)
        done.append(await run_to_completion(events))
        await service.work.drain(grace_seconds=30)
    return done


def erased_questions(chat: Chat) -> list[int]:
    return [m.position for m in chat.messages if m.erased and m.role is Role.USER]


async def test_every_erased_exchange_is_named_in_the_summary_over_many_turns() -> None:
    service = summarized(**TINY, summary_max_tokens=2000)
    chat = await service.start_chat("ana", memory="summary")

    await talk(service, chat, range(30))

    stored = await service.repository.get_chat("ana", chat.id)
    erased = erased_questions(stored)
    assert len(erased) > 20
    assert stored.summary is not None
    for position in erased:
        assert f"exchange at message {position}: question" in stored.summary.content
    assert stored.summary.covers_through_position == erased[-1] + 1
    assert stored.summary.tokens == COUNTER.message_cost(
        "o200k_base", Role.SYSTEM, SUMMARY_HEADING + stored.summary.content
    )


async def test_prompts_carry_the_summary_right_after_the_system_message_and_fit() -> None:
    service = summarized(**ROOMY)
    chat = await service.start_chat("ana", memory="summary")

    await talk(service, chat, range(12), filler=30)

    stored = await service.repository.get_chat("ana", chat.id)
    assert stored.summary is not None
    await talk(service, chat, range(12, 13), filler=30)
    requests = gate_of(service).requests
    turns = [r for r in requests if r.messages[0].content != SUMMARY_INSTRUCTIONS]
    last = turns[-1]
    assert last.messages[1].role == Role.SYSTEM
    assert last.messages[1].content == SUMMARY_HEADING + stored.summary.content
    assert sum(r.messages[1].content.startswith(SUMMARY_HEADING) for r in turns) >= 3
    for request in turns:
        cost = prompt_cost(
            COUNTER.message_cost("o200k_base", m.role, m.content) for m in request.messages
        )
        assert cost + 60 <= 700


async def test_a_failed_summary_leaves_the_chat_working_and_the_next_one_catches_up() -> None:
    service = summarized(**TINY)
    gate = gate_of(service)
    chat = await service.start_chat("ana", memory="summary")
    gate.failing = True

    done = await talk(service, chat, range(8))

    failed = await service.repository.get_chat("ana", chat.id)
    assert sum(d.erased > 0 for d in done) >= 2 and gate.summary_calls >= 2
    assert failed.summary is None
    assert len(failed.messages) == 1 + 2 * 8
    gate.failing = False
    await talk(service, chat, range(8, 10))
    caught_up = await service.repository.get_chat("ana", chat.id)
    assert caught_up.summary is not None
    for position in erased_questions(caught_up):
        assert f"exchange at message {position}:" in caught_up.summary.content


async def test_a_slow_summary_never_holds_up_the_next_turn() -> None:
    service = summarized(**TINY)
    gate = gate_of(service)
    chat = await service.start_chat("ana", memory="summary")
    await talk(service, chat, range(4))
    gate.open.clear()

    # Turns go on while the summary calls they start are held.
    for n in range(4, 8):
        await run_to_completion(service.send_message("ana", chat.id, f"question {n}"))
    assert service.work.running >= 1
    assert (await service.repository.get_chat("ana", chat.id)).version == 8

    gate.open.set()
    await service.work.drain(grace_seconds=30)
    stored = await service.repository.get_chat("ana", chat.id)
    assert stored.summary is not None
    assert stored.summary.covers_through_position == erased_questions(stored)[-1] + 1


async def test_what_the_summaries_cost_is_added_to_the_chats_usage() -> None:
    service = summarized(**TINY)
    chat = await service.start_chat("ana", memory="summary")

    done = await talk(service, chat, range(6))

    stored = await service.repository.get_chat("ana", chat.id)
    replies = sum(
        (Usage(d.reply.prompt_tokens or 0, d.reply.completion_tokens or 0) for d in done), Usage()
    )
    assert stored.summary is not None
    assert stored.usage.prompt_tokens > replies.prompt_tokens
    assert stored.usage.completion_tokens > replies.completion_tokens


async def test_a_chat_without_memory_never_calls_for_a_summary() -> None:
    service = summarized(**TINY)
    chat = await service.start_chat("ana")

    done = await talk(service, chat, range(6))

    assert any(d.erased for d in done)
    assert gate_of(service).summary_calls == 0
    assert (await service.repository.get_chat("ana", chat.id)).summary is None


async def test_the_deployment_default_memory_applies_unless_a_chat_says() -> None:
    service = summarized(default_memory="summary")

    assert (await service.start_chat("ana")).memory is Memory.SUMMARY
    assert (await service.start_chat("ana", memory="none")).memory is Memory.NONE


async def test_an_unknown_memory_is_refused_and_nothing_is_stored() -> None:
    service = summarized()

    with pytest.raises(InvalidInput, match="memory must be one of"):
        await service.start_chat("ana", memory="everything")

    assert await service.repository.list_chats("ana", 10, None) == []


def test_an_unservable_summary_model_is_refused_at_start_up() -> None:
    with pytest.raises(InvalidInput, match="no-such-model"):
        summarized(summary_model="no-such-model")


async def test_a_fork_keeps_the_memory_and_folds_its_own_erased_copies() -> None:
    service = summarized(**TINY)
    chat = await service.start_chat("ana", memory="summary")
    await talk(service, chat, range(6))
    original = await service.repository.get_chat("ana", chat.id)
    last_reply = original.messages[-1]

    fork = await service.fork_chat("ana", chat.id, last_reply.id)
    assert fork.memory is Memory.SUMMARY and fork.summary is None
    await talk(service, fork, range(6, 8))

    stored = await service.repository.get_chat("ana", fork.id)
    assert stored.summary is not None
    for position in erased_questions(stored):
        assert f"exchange at message {position}:" in stored.summary.content


async def test_a_regenerated_reply_is_asked_with_the_summary_too() -> None:
    service = summarized(**ROOMY)
    chat = await service.start_chat("ana", memory="summary")
    await talk(service, chat, range(10), filler=30)
    stored = await service.repository.get_chat("ana", chat.id)
    assert stored.summary is not None

    await run_to_completion(service.container.regenerate_reply()("ana", chat.id))

    regenerated = [
        r for r in gate_of(service).requests if r.messages[0].content != SUMMARY_INSTRUCTIONS
    ][-1]
    assert regenerated.messages[1].content == SUMMARY_HEADING + stored.summary.content


async def test_shutdown_waits_for_a_summary_under_way_and_a_cut_one_stores_nothing() -> None:
    service = summarized(**TINY)
    gate = gate_of(service)
    chat = await service.start_chat("ana", memory="summary")
    gate.open.clear()
    done = [
        await run_to_completion(service.send_message("ana", chat.id, f"q {n}")) for n in range(6)
    ]
    assert any(d.erased for d in done) and service.work.running == 1

    # A grace period that ends with the summary call still held cancels it: nothing stored.
    await service.work.drain(grace_seconds=0.01, cleanup_seconds=5)
    assert service.work.running == 0
    assert (await service.repository.get_chat("ana", chat.id)).summary is None

    # One let through within the grace period is stored before shutdown goes on.
    gate.open.set()
    await talk(service, chat, range(6, 7))
    assert (await service.repository.get_chat("ana", chat.id)).summary is not None


async def test_a_backlog_too_large_for_one_call_is_folded_in_several_each_stored() -> None:
    service = summarized(**TINY)
    gate = gate_of(service)
    chat = await service.start_chat("ana", memory="summary")
    gate.failing = True
    await talk(service, chat, range(10), filler=12)
    gate.failing, failed_calls = False, gate.summary_calls

    await talk(service, chat, range(10, 11), filler=12)

    stored = await service.repository.get_chat("ana", chat.id)
    assert stored.summary is not None
    assert gate.summary_calls - failed_calls >= 2
    assert stored.summary.version == gate.summary_calls - failed_calls
    for position in erased_questions(stored):
        assert f"exchange at message {position}:" in stored.summary.content


async def test_a_summary_model_with_a_smaller_window_gets_prompts_that_fit_it() -> None:
    summarizer = {"context_window": 1200, "max_output": 200, "encoding": "o200k_base"}
    service = summarized(
        context_window=4000,
        max_completion_tokens=200,
        summary_model="summarizer",
        summary_max_tokens=200,
        models={"summarizer": summarizer},
    )
    chat = await service.start_chat("ana", memory="summary")

    await talk(service, chat, range(5), filler=500)

    stored = await service.repository.get_chat("ana", chat.id)
    assert stored.summary is not None
    calls = [r for r in gate_of(service).requests if r.messages[0].content == SUMMARY_INSTRUCTIONS]
    assert calls and all(r.model.name == "summarizer" for r in calls)
    for call in calls:
        cost = prompt_cost(
            COUNTER.message_cost("o200k_base", m.role, m.content) for m in call.messages
        )
        assert cost + 200 <= 1200
    for position in erased_questions(stored):
        assert f"exchange at message {position}: question" in stored.summary.content
