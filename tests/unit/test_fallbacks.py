"""Fallbacks: a model's provider failing before its first text moves the turn to the next model
of the chain, the window fitted again for it; after the first text, nothing moves. Three fake
providers here; tests/e2e/test_providers.py falls back from Anthropic's protocol to OpenAI's."""

from __future__ import annotations

import asyncio

import pytest
from dependency_injector import providers

from chatservice.adapters.fake_gateway import FakeChatGateway, ScriptedFailure
from chatservice.application.turn_events import Completed, Delta, TurnEvent
from chatservice.domain.chat import Role
from chatservice.domain.errors import (
    InvalidInput,
    MessageTooLong,
    ProviderRateLimited,
    ProviderRejected,
    ProviderTimeout,
    ProviderUnavailable,
    TurnInProgress,
)
from support.clock import AdjustableClock
from support.fallbacks import model, settings
from support.services import Service, build_service


def fake(service: Service, provider: str) -> FakeChatGateway:
    gateway = service.container.gateways()[provider]
    assert isinstance(gateway, FakeChatGateway)
    return gateway


async def events_of(service: Service, chat_id: str, text: str = "hello") -> list[TurnEvent]:
    return [event async for event in service.send_message("u1", chat_id, text)]


async def stored_replies(service: Service, chat_id: str) -> list[tuple[str, str | None]]:
    chat = await service.repository.get_chat("u1", chat_id)
    return [(m.content, m.model) for m in chat.messages if m.role is Role.ASSISTANT]


@pytest.mark.parametrize(
    "failure",
    [
        ProviderUnavailable("overloaded"),
        ProviderRateLimited("slow down", 7.0),
        ProviderTimeout("no first byte"),
        ProviderRejected("bad credentials"),
        MessageTooLong("the provider counts more than we do"),
    ],
)
async def test_a_failure_before_the_first_text_moves_the_turn_to_the_next_model(
    failure: Exception,
) -> None:
    service = build_service(**settings())
    fake(service, "own").fail_next(ScriptedFailure(failure, after_chunks=0))
    chat = await service.start_chat("u1")
    *deltas, done = await events_of(service, chat.id)
    assert isinstance(done, Completed) and done.model == "first-model"
    assert "".join(d.text for d in deltas if isinstance(d, Delta)) == done.reply.content
    assert done.reply.model == "first-model"
    assert await stored_replies(service, chat.id) == [(done.reply.content, "first-model")]
    # The chat keeps its own model; the next turn asks it first again.
    assert (await service.repository.get_chat("u1", chat.id)).model == "own-model"
    again = await events_of(service, chat.id, "and again")
    assert isinstance(again[-1], Completed) and again[-1].model == "own-model"
    (fallback,) = fake(service, "first").requests
    assert fallback.fallback_from == "own-model"


async def test_no_fallback_after_the_first_text_the_turn_fails_and_stores_nothing() -> None:
    service = build_service(**settings())
    fake(service, "own").fail_next(ScriptedFailure(ProviderUnavailable("cut"), after_chunks=2))
    chat = await service.start_chat("u1")
    seen: list[TurnEvent] = []
    with pytest.raises(ProviderUnavailable):
        async for event in service.send_message("u1", chat.id, "hello there"):
            seen.append(event)
    assert len([e for e in seen if isinstance(e, Delta)]) == 2
    assert not fake(service, "first").requests
    assert await stored_replies(service, chat.id) == []


async def test_a_stream_that_ends_without_any_text_falls_back_too() -> None:
    service = build_service(**settings())
    fake(service, "own").fail_next(ScriptedFailure(None, after_chunks=0))
    chat = await service.start_chat("u1")
    done = (await events_of(service, chat.id))[-1]
    assert isinstance(done, Completed) and done.model == "first-model"


async def test_the_chain_goes_on_and_the_last_models_failure_is_the_turns() -> None:
    service = build_service(**settings())
    fake(service, "own").fail_next(ScriptedFailure(ProviderUnavailable("down"), 0))
    fake(service, "first").fail_next(ScriptedFailure(ProviderTimeout("slow"), 0))
    chat = await service.start_chat("u1")
    done = (await events_of(service, chat.id))[-1]
    assert isinstance(done, Completed) and done.model == "second-model"
    assert fake(service, "second").requests[-1].fallback_from == "first-model"

    for provider in ("own", "first", "second"):
        fake(service, provider).fail_next(ScriptedFailure(ProviderRateLimited("busy", 3.0), 0))
    with pytest.raises(ProviderRateLimited):
        await events_of(service, chat.id, "once more")
    assert len(await stored_replies(service, chat.id)) == 1
    # Nothing of the failed turn holds the chat.
    assert isinstance((await events_of(service, chat.id, "free"))[-1], Completed)


async def test_an_error_that_is_no_providers_failure_does_not_fall_back() -> None:
    service = build_service(**settings())
    fake(service, "own").fail_next(ScriptedFailure(InvalidInput("ours"), 0))
    chat = await service.start_chat("u1")
    with pytest.raises(InvalidInput):
        await events_of(service, chat.id)
    assert not fake(service, "first").requests


async def test_the_fallbacks_window_is_fitted_to_its_own_limits() -> None:
    narrow = model("first", window=600, output=64)
    service = build_service(**settings(**{"first-model": narrow}))
    chat = await service.start_chat("u1", system_message="Be brief.")
    for n in range(6):
        await events_of(service, chat.id, f"message number {n} " + "words " * 30)
    own_prompt = fake(service, "own").requests[-1]
    fake(service, "own").fail_next(ScriptedFailure(ProviderUnavailable("down"), 0))
    done = (await events_of(service, chat.id, "the last question"))[-1]
    assert isinstance(done, Completed) and done.model == "first-model"
    fallback = fake(service, "first").requests[-1]
    # Its reply reserve is the chat's capped at its largest reply, and its window holds less.
    assert fallback.params.max_completion_tokens == 64
    assert len(fallback.messages) < len(own_prompt.messages) + 2
    assert fallback.messages[0].content == "Be brief."
    assert fallback.messages[-1].content == "the last question"
    # What is stored follows the chat's own model's window: the fallback's erased nothing.
    assert done.erased == 0
    stored = await service.repository.get_chat("u1", chat.id)
    assert not any(m.erased for m in stored.messages)


async def test_a_fallback_on_another_encoding_counts_the_window_in_its_own() -> None:
    cl100k = model("first", window=600, output=64, encoding="cl100k_base")
    service = build_service(**settings(**{"first-model": cl100k}))
    chat = await service.start_chat("u1")
    await events_of(service, chat.id, "Ünïcödé text counts differently " * 8)
    fake(service, "own").fail_next(ScriptedFailure(ProviderUnavailable("down"), 0))
    done = (await events_of(service, chat.id, "next"))[-1]
    assert isinstance(done, Completed) and done.model == "first-model"
    stored = await service.repository.get_chat("u1", chat.id)
    # Stored costs stay the chat's own model's (o200k_base), counted once.
    reply = stored.messages[-1]
    assert reply.tokens == service.container.counter().message_cost(
        "o200k_base", Role.ASSISTANT, reply.content
    )


async def test_a_fallback_the_new_message_alone_does_not_fit_is_passed_over() -> None:
    tiny = model("first", window=120, output=16)
    service = build_service(**settings(**{"first-model": tiny}))
    chat = await service.start_chat("u1")
    fake(service, "own").fail_next(ScriptedFailure(ProviderUnavailable("down"), 0))
    done = (await events_of(service, chat.id, "a question far too long for it " * 20))[-1]
    assert isinstance(done, Completed) and done.model == "second-model"
    assert not fake(service, "first").requests
    assert fake(service, "second").requests[-1].fallback_from == "own-model"


async def test_no_fallback_starts_once_the_turns_claim_has_lapsed() -> None:
    clock = AdjustableClock()
    service = build_service({"clock": providers.Object(clock)}, **settings())
    own = fake(service, "own")
    own.fail_next(ScriptedFailure(ProviderUnavailable("down"), 0))
    hold = own.hold(after_chunks=0)
    chat = await service.start_chat("u1")
    turn = asyncio.create_task(events_of(service, chat.id))
    await hold.reached()
    clock.advance(service.policy.claim_ttl_seconds + 1)
    hold.release()
    with pytest.raises(ProviderUnavailable):
        await turn
    assert not fake(service, "first").requests


async def test_a_fallback_renews_the_turns_claim_so_it_holds_the_chat_for_a_whole_claim_more() -> (
    None
):
    clock = AdjustableClock()
    service = build_service({"clock": providers.Object(clock)}, **settings())
    own, first = fake(service, "own"), fake(service, "first")
    own.fail_next(ScriptedFailure(ProviderUnavailable("down"), 0))
    own_hold = own.hold(after_chunks=0)
    chat = await service.start_chat("u1")
    turn = asyncio.create_task(events_of(service, chat.id))
    await own_hold.reached()
    ttl = service.policy.claim_ttl_seconds
    clock.advance(ttl - 1)  # the own model fails a second before the claim would lapse
    first_hold = first.hold(after_chunks=1)
    own_hold.release()
    await first_hold.reached()

    clock.advance(2)  # past the first claim's end: the fallback's renewal still holds the chat
    with pytest.raises(TurnInProgress):
        await events_of(service, chat.id, "another turn")
    first_hold.release()
    done = (await turn)[-1]
    assert isinstance(done, Completed) and done.model == "first-model"


async def test_a_prompt_refused_as_too_long_is_fitted_again_once_before_the_turn_falls_back() -> (
    None
):
    service = build_service(**settings())
    own = fake(service, "own")
    chat = await service.start_chat("u1")
    await events_of(service, chat.id, "a first turn measures the provider's counting")
    for _ in range(2):
        own.fail_next(ScriptedFailure(MessageTooLong("prompt is too long"), after_chunks=0))
    done = (await events_of(service, chat.id, "next"))[-1]
    assert isinstance(done, Completed) and done.model == "first-model"
    assert len(own.requests) == 3  # the first turn's, then this one's twice
    *_, first_fit, refitted = own.requests
    # Fitted again at a higher ratio, it held no more than the first fit did; then refused
    # again, the turn moved on.
    assert len(refitted.messages) <= len(first_fit.messages)
    assert len(fake(service, "first").requests) == 1
