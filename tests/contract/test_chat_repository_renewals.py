"""The `ChatRepository` contract for renewing a turn's claim (a turn moving to a fallback model):
the chat stays the turn's, and its budget reserves count, until the new expiry; a claim that has
lapsed or is another turn's is not renewed; on every adapter (in memory, SQLite, MariaDB)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chatservice.application.ports import ChatRepository
from chatservice.domain.budgets import Account, AccountKind, BudgetClaim, Spend
from chatservice.domain.chat import Chat
from chatservice.domain.errors import BudgetExhausted, TurnInProgress
from chatservice.domain.tenants import Budget
from support.chat_records import T0, claim, new_chat, new_id, new_user

TTL = timedelta(seconds=120)
LATER = T0 + timedelta(seconds=100)


async def claimed_chat(repository: ChatRepository, key: str) -> Chat:
    chat = new_chat(new_user())
    await repository.add_chat(chat)
    await repository.claim_turn(chat.user_id, chat.id, claim(key, at=T0, ttl=TTL.seconds))
    return chat


def reserve(chat: Chat, key: str, account: Account) -> BudgetClaim:
    """The turn's reserve of the account's whole daily limit, claimed with its chat at T0."""
    return BudgetClaim(chat.id, key, (account,), Spend(100), T0, T0 + TTL)


async def test_a_renewed_claim_holds_the_chat_until_its_new_expiry(
    repository: ChatRepository,
) -> None:
    key = new_id()
    chat = await claimed_chat(repository, key)

    assert await repository.renew_turn(chat.id, key, LATER, LATER + TTL)

    # Past the first expiry, before the new one: still the turn's.
    with pytest.raises(TurnInProgress) as busy:
        await repository.claim_turn(
            chat.user_id, chat.id, claim(at=T0 + TTL + timedelta(seconds=1))
        )
    assert busy.value.idempotency_key == key
    # Past the new one: free.
    await repository.claim_turn(chat.user_id, chat.id, claim(at=LATER + TTL))


async def test_a_renewed_claim_keeps_its_budget_reserves_counting_until_its_new_expiry(
    repository: ChatRepository,
) -> None:
    key = new_id()
    chat = await claimed_chat(repository, key)
    bob = Account(AccountKind.USER, chat.user_id, Budget(tokens_per_day=100))
    await repository.claim_budget(reserve(chat, key, bob))

    assert await repository.renew_turn(chat.id, key, LATER, LATER + TTL)

    after_first_expiry = T0 + TTL + timedelta(seconds=1)
    other = BudgetClaim(new_id(), new_id(), (bob,), Spend(1), after_first_expiry, LATER + TTL)
    with pytest.raises(BudgetExhausted):
        await repository.claim_budget(other)
    after_new_expiry = LATER + TTL
    other = BudgetClaim(new_id(), new_id(), (bob,), Spend(1), after_new_expiry, LATER + 2 * TTL)
    await repository.claim_budget(other)


async def test_a_lapsed_claim_is_not_renewed(repository: ChatRepository) -> None:
    key = new_id()
    chat = await claimed_chat(repository, key)

    assert not await repository.renew_turn(chat.id, key, T0 + TTL, T0 + 2 * TTL)

    # Nothing changed: the chat is free from the first expiry on.
    await repository.claim_turn(chat.user_id, chat.id, claim(at=T0 + TTL))


async def test_another_turns_claim_is_not_renewed(repository: ChatRepository) -> None:
    key = new_id()
    chat = await claimed_chat(repository, key)

    assert not await repository.renew_turn(chat.id, new_id(), LATER, LATER + TTL)
    await repository.release_turn(chat.id, key)
    assert not await repository.renew_turn(chat.id, key, LATER, LATER + TTL)
