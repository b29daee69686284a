"""Turns of a model whose tokenizer is not exact: fitted at the calibrated ratio, and fitted
again once when the provider refuses a prompt as too long before any of the reply came."""

from __future__ import annotations

import math

import pytest

from chatservice.adapters.fake_gateway import ScriptedFailure
from chatservice.application.turn_events import Completed, TurnEvent
from chatservice.domain.errors import MessageTooLong
from support.services import Service, build_service

WINDOW = 400
RESERVE = 100
LLAMA = {
    "context_window": WINDOW,
    "max_output": RESERVE,
    "encoding": "o200k_base",
    "exact_tokenizer": False,
}


def llama_service() -> Service:
    return build_service(model="llama", models={"llama": LLAMA})


async def turn(service: Service, chat_id: str, text: str) -> Completed:
    events: list[TurnEvent] = [e async for e in service.send_message("u1", chat_id, text)]
    last = events[-1]
    assert isinstance(last, Completed)
    return last


async def conversation(service: Service, exchanges: int) -> str:
    chat = await service.start_chat("u1", system_message="Be brief.")
    for i in range(exchanges):
        await turn(service, chat.id, f"message {i}: " + "lorem ipsum " * 6)
    return chat.id


async def test_a_reply_keeps_our_count_of_the_prompt_it_answered() -> None:
    service = llama_service()
    chat_id = await conversation(service, 2)
    stored = await service.repository.get_chat("u1", chat_id)
    last = stored.messages[-1]
    assert last.estimated_prompt_tokens == 3 + sum(m.tokens for m in stored.messages[:-1])
    # The fake counts as we do: both counts agree.
    assert last.prompt_tokens == last.estimated_prompt_tokens


async def test_a_long_first_message_fits_once_the_models_ratio_is_measured() -> None:
    service = llama_service()
    long_message = "word " * 150  # about 155 of our tokens: more than half the room
    first = await service.start_chat("u1", system_message="Be brief.")
    with pytest.raises(MessageTooLong):
        await turn(service, first.id, long_message)  # as if the provider counted twice ours
    await turn(service, first.id, "hello")  # the fake's count: the same as ours
    second = await service.start_chat("u1", system_message="Be brief.")
    await turn(service, second.id, long_message)


async def test_a_prompt_refused_before_any_text_is_fitted_again_and_answered() -> None:
    service = llama_service()
    chat_id = await conversation(service, 3)
    sent = service.gateway.requests[-1]
    # The provider says it counted half again as many tokens as the window leaves.
    service.gateway.fail_next(ScriptedFailure(MessageTooLong("too long", 450), after_chunks=0))
    done = await turn(service, chat_id, "one more")
    refused, answered = list(service.gateway.requests)[-2:]
    assert len(refused.messages) == len(sent.messages) + 2
    assert len(answered.messages) < len(refused.messages)
    stored = await service.repository.get_chat("u1", chat_id)
    kept = [m.content for m in stored.messages if not m.erased][:-1]
    assert kept == [m.content for m in answered.messages]
    assert done.reply.estimated_prompt_tokens == 3 + sum(
        m.tokens for m in stored.messages[:-1] if not m.erased
    )


async def test_a_refusal_that_does_not_say_the_count_is_fitted_again_at_the_largest_ratio() -> None:
    service = llama_service()
    chat_id = await conversation(service, 3)
    service.gateway.fail_next(ScriptedFailure(MessageTooLong("too long"), after_chunks=0))
    done = await turn(service, chat_id, "one more")
    assert done.reply.estimated_prompt_tokens is not None
    assert done.reply.estimated_prompt_tokens <= (WINDOW - RESERVE) / 2


async def test_a_second_refusal_fails_the_turn_and_stores_nothing() -> None:
    service = llama_service()
    chat_id = await conversation(service, 3)
    before = await service.repository.get_chat("u1", chat_id)
    for _ in range(2):
        service.gateway.fail_next(ScriptedFailure(MessageTooLong("too long", 450), 0))
    with pytest.raises(MessageTooLong):
        await turn(service, chat_id, "one more")
    assert await service.repository.get_chat("u1", chat_id) == before
    await turn(service, chat_id, "and it answers the next")


async def assert_the_refusal_stands(service: Service, chat_id: str, after_chunks: int) -> None:
    """A refusal as too long after `after_chunks` chunks fails the turn, with no second call."""
    requests = len(service.gateway.requests)
    failure = ScriptedFailure(MessageTooLong("too long", 450), after_chunks)
    service.gateway.fail_next(failure)
    with pytest.raises(MessageTooLong):
        await turn(service, chat_id, "one more")
    assert len(service.gateway.requests) == requests + 1


async def test_a_refusal_after_text_reached_the_caller_is_not_retried() -> None:
    service = llama_service()
    await assert_the_refusal_stands(service, await conversation(service, 1), after_chunks=2)


async def test_an_exact_models_refusal_stands() -> None:
    service = build_service()  # gpt-4o-mini: counted with its own tokenizer
    await assert_the_refusal_stands(service, await conversation(service, 1), after_chunks=0)


async def test_the_window_is_shown_at_the_ratio_the_next_turn_fits_with() -> None:
    service = llama_service()
    window_of = service.container.chat_window()
    fresh = await service.start_chat("u1", system_message="Be brief.")
    # Never measured: as if the provider counted twice ours, as the first turn is fitted.
    unmeasured = window_of(fresh)
    assert unmeasured is not None
    assert unmeasured.used == 2 * (3 + fresh.messages[0].tokens)
    chat_id = await conversation(service, 2)
    stored = await service.repository.get_chat("u1", chat_id)
    window = window_of(stored)
    assert window is not None
    ours = 3 + sum(m.tokens for m in stored.messages)
    # Measured by the last reply (the fake counts as we do: 1), with the fit's 5 % headroom.
    assert window.used == math.ceil(ours * 1.05)
    assert (window.reserve, window.limit) == (RESERVE, WINDOW)
