"""Budgets in a turn: checked once the chat is claimed and the prompt fitted, before the model is
called; a refused turn stores nothing; a turn's reserve is its prompt and its whole reply room at
the dearest price of its chain, and goes back when the turn fails or is cancelled."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest
from dependency_injector import providers

from chatservice.adapters.fake_gateway import ScriptedFailure
from chatservice.application.turn_events import Completed, TurnEvent
from chatservice.application.whatsapp import BUDGET_SPENT
from chatservice.domain.budgets import BudgetClaim
from chatservice.domain.errors import BudgetExhausted, ProviderUnavailable
from chatservice.domain.models import ModelRegistry
from chatservice.domain.prices import Prices, cost_of
from chatservice.domain.turn import Truncation, TurnOptions
from support.services import Service, WatchedRepository, build_service
from support.waiting import eventually
from support.whatsapp_service import build_whatsapp, message

ROOM = 64


class ClaimsSeen(WatchedRepository):
    """The in-memory repository, keeping every budget claim it was asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.claims: list[BudgetClaim] = []

    async def claim_budget(self, claim: BudgetClaim) -> None:
        self.claims.append(claim)
        await super().claim_budget(claim)


def seen(service: Service) -> ClaimsSeen:
    repository = service.repository
    assert isinstance(repository, ClaimsSeen)
    return repository


def budgeted(**settings: Any) -> Service:
    return build_service(
        {"repository": providers.Singleton(ClaimsSeen)}, max_completion_tokens=ROOM, **settings
    )


async def events(service: Service, user: str, chat_id: str, text: str) -> list[TurnEvent]:
    return [event async for event in service.send_message(user, chat_id, text)]


async def reply(service: Service, user: str, chat_id: str, text: str = "hello") -> Completed:
    last = (await events(service, user, chat_id, text))[-1]
    assert isinstance(last, Completed)
    return last


async def test_a_turn_past_the_days_tokens_is_refused_before_the_model_and_stores_nothing() -> None:
    service = budgeted(budget_tokens_per_day_per_user=1)
    chat = await service.start_chat("u1")
    await reply(service, "u1", chat.id)  # nothing spent yet: admitted, and over by its own usage
    asked = len(service.gateway.requests)
    before = await service.repository.get_chat("u1", chat.id)

    with pytest.raises(BudgetExhausted) as refused:
        await events(service, "u1", chat.id, "and again")

    assert refused.value.code == "budget_exhausted"
    assert refused.value.limits == ("1 tokens a day for user 'u1'",)
    assert 0 < (refused.value.retry_after_seconds or 0) <= 24 * 3600
    assert len(service.gateway.requests) == asked
    # Nothing stored, and the chat is free again.
    assert await service.repository.get_settled_chat("u1", chat.id, before.updated_at) == before


async def test_the_reserve_is_the_fitted_prompt_and_the_whole_reply_room() -> None:
    service = budgeted(budget_usd_per_month_per_user="10")
    chat = await service.start_chat("u1")

    done = await reply(service, "u1", chat.id)

    [claim] = seen(service).claims
    prompt = done.reply.prompt_tokens or 0  # the fake counts as we do: our fitted count
    prices = ModelRegistry().lookup("gpt-4o-mini").prices
    assert claim.reserve.tokens == prompt + ROOM
    assert claim.reserve.cost == cost_of(prices, prompt, ROOM)
    assert (claim.chat_id, claim.idempotency_key) == (chat.id, done.user_message.idempotency_key)
    assert [(a.kind.value, a.name) for a in claim.accounts] == [("user", "u1")]


def model(provider: str, price: str) -> dict[str, Any]:
    return {
        "provider": provider,
        "context_window": 8192,
        "max_output": 1024,
        "input_price": price,
        "output_price": price,
        # Counted exactly: the prompt is reserved as counted, not scaled by a calibration.
        "exact_tokenizer": True,
    }


async def test_the_reserve_is_priced_at_the_dearest_model_that_may_answer() -> None:
    service = budgeted(
        budget_usd_per_month_per_user="10",
        providers={name: {"kind": "fake"} for name in ("own", "first", "second")},
        models={
            "own-model": {**model("own", "1"), "fallbacks": ["first-model", "second-model"]},
            "first-model": model("first", "7"),
            "second-model": model("second", "3"),
        },
        model="own-model",
    )
    chat = await service.start_chat("u1")

    done = await reply(service, "u1", chat.id)

    [claim] = seen(service).claims
    prompt = done.reply.prompt_tokens or 0
    assert claim.reserve.cost == cost_of(Prices(Decimal(7), Decimal(7)), prompt, ROOM)


async def test_a_turn_whose_model_fails_gives_its_reserve_back() -> None:
    service = budgeted(budget_tokens_per_day_per_user=1)
    chat = await service.start_chat("u1")
    service.gateway.fail_next(ScriptedFailure(ProviderUnavailable("down")))
    with pytest.raises(ProviderUnavailable):
        await events(service, "u1", chat.id, "hello")

    # Had the failed turn's reserve stayed, this one would find the budget spent.
    await reply(service, "u1", chat.id)


async def test_a_cancelled_turn_gives_its_reserve_back() -> None:
    service = budgeted(budget_tokens_per_day_per_user=1)
    chat, other = await service.start_chat("u1"), await service.start_chat("u1")
    hold = service.gateway.hold(after_chunks=0)
    held = asyncio.create_task(reply(service, "u1", chat.id))
    await hold.reached()
    with pytest.raises(BudgetExhausted):  # the held turn's reserve is the day's budget
        await events(service, "u1", other.id, "meanwhile")

    held.cancel()
    with pytest.raises(asyncio.CancelledError):
        await held
    hold.release()

    await reply(service, "u1", other.id)


async def test_turns_of_users_without_a_budget_claim_nothing() -> None:
    service = budgeted()
    chat = await service.start_chat("u1")
    await reply(service, "u1", chat.id)
    assert seen(service).claims == []


ACME = {"name": "acme", "token_env": "ACME_TOKEN", "users": "acme:*", "token": "acme-token"}


async def test_a_tokens_budget_holds_back_every_user_it_covers_together() -> None:
    service = budgeted(tokens=[{**ACME, "budget_tokens_per_day_per_user": 1}])
    ann, bob = await service.start_chat("acme:ann"), await service.start_chat("acme:bob")
    outsider = await service.start_chat("zed")
    await reply(service, "acme:ann", ann.id)

    with pytest.raises(BudgetExhausted) as refused:
        await events(service, "acme:bob", bob.id, "hello")
    assert refused.value.limits == ("1 tokens a day for token 'acme'",)
    await reply(service, "zed", outsider.id)
    assert [(a.kind.value, a.name) for a in seen(service).claims[0].accounts] == [("token", "acme")]


async def test_concurrent_turns_of_one_user_are_admitted_while_under_the_budget() -> None:
    service = budgeted(budget_tokens_per_day_per_user=150)
    chats = [await service.start_chat("u1") for _ in range(6)]
    hold = service.gateway.hold(after_chunks=0)
    turns = [asyncio.create_task(reply(service, "u1", c.id)) for c in chats]
    await eventually(
        lambda: hold.waiting + sum(t.done() for t in turns) == len(turns),
        "every turn refused or held at the model",
    )
    held = hold.waiting
    hold.release()
    outcomes = await asyncio.gather(*turns, return_exceptions=True)

    reserve = seen(service).claims[0].reserve.tokens
    assert held == -(-150 // reserve)  # admitted at 0, r, 2r, … while under 150
    assert sum(isinstance(o, Completed) for o in outcomes) == held
    assert all(isinstance(o, Completed | BudgetExhausted) for o in outcomes)


async def test_a_whatsapp_sender_past_their_budget_is_told_it_renews() -> None:
    whatsapp = build_whatsapp(budget_tokens_per_day_per_user=1)
    await whatsapp.answer(message("hello", sid="SM1"))

    assert await whatsapp.answer(message("again", sid="SM2")) == BUDGET_SPENT


async def test_a_fallback_the_turn_cannot_fit_neither_counts_in_its_reserve_nor_refuses_it() -> (
    None
):
    service = budgeted(
        budget_usd_per_month_per_user="10",
        providers={name: {"kind": "fake"} for name in ("own", "small")},
        models={
            "own-model": {**model("own", "1"), "fallbacks": ["small-model"]},
            # Dearer, and too small for the history without erasing some of it.
            "small-model": {**model("small", "9"), "context_window": 200, "max_output": 32},
        },
        model="own-model",
    )
    chat = await service.start_chat("u1")
    for n in range(4):
        await reply(service, "u1", chat.id, f"tell me about the number {n} at some length " * 4)
    seen(service).claims.clear()

    # Nothing may leave this turn's prompt: the small model could only take it by erasing.
    last = [
        event
        async for event in service.send_message(
            "u1", chat.id, "and now?", options=TurnOptions(truncation=Truncation.DISABLED)
        )
    ][-1]

    assert isinstance(last, Completed)
    [claim] = seen(service).claims
    prompt = last.reply.prompt_tokens or 0
    assert claim.reserve.cost == cost_of(Prices(Decimal(1), Decimal(1)), prompt, ROOM)
