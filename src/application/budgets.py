"""A turn's budget reserve, claimed before its model is called (`domain/budgets.py`).

The reserve is the most the turn may cost: its fitted prompt and the room it leaves for the reply,
in tokens as the provider counts them, priced at the prices of whichever model of the chat's chain
(its own, or a fallback) would cost most. The accounts are the user's (under the per-user budget)
and each tenant covering the user, those with a limit only: a service without budgets claims
nothing and reads nothing. The reserve goes with the turn's claim on its chat: `commit_turn` and
`release_turn` give it back, and it expires with the claim.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from chatservice.application.clock import Clock
from chatservice.application.ports import ChatRepository, TurnClaim
from chatservice.application.prompts import FittedPrompt, PromptFitter
from chatservice.domain.budgets import Account, AccountKind, BudgetClaim, Spend
from chatservice.domain.chat import Chat
from chatservice.domain.errors import ContextLengthExceeded, MessageTooLong
from chatservice.domain.models import ModelRegistry
from chatservice.domain.prices import cost_of
from chatservice.domain.tenants import Budget, Tenants


class TurnBudgets:
    """Claims each turn's reserve against the budgets it counts against."""

    def __init__(
        self,
        repository: ChatRepository,
        registry: ModelRegistry,
        fitter: PromptFitter,
        user_budget: Budget,
        tenants: Tenants,
        clock: Clock,
    ) -> None:
        """`user_budget`: each user's own (the settings'); `tenants`: the scoped tokens, with
        the budgets of the users they cover together."""
        self._repository = repository
        self._registry = registry
        self._fitter = fitter
        self._user_budget = user_budget
        self._tenants = tenants
        self._clock = clock

    def accounts(self, user_id: str) -> tuple[Account, ...]:
        """The accounts with a limit that a turn of `user_id` counts against, in key order."""
        accounts = [
            Account(AccountKind.TOKEN, tenant.name, tenant.budget)
            for tenant in self._tenants.covering(user_id)
            if tenant.budget.limited
        ]
        if self._user_budget.limited:
            accounts.append(Account(AccountKind.USER, user_id, self._user_budget))
        return tuple(sorted(accounts, key=lambda a: a.key))

    async def reserve(self, chat: Chat, claim: TurnClaim, own: FittedPrompt) -> None:
        """Reserve what the turn of `claim` on `chat` (as asked) may cost, `own` being its
        prompt for the chat's own model; `BudgetExhausted` when an account has reached a
        limit, reserving nothing."""
        accounts = self.accounts(chat.user_id)
        if not accounts:
            return
        reserve = Spend()
        for prompt in self._chain(chat, own):
            most = _most(prompt)
            reserve = Spend(max(reserve.tokens, most.tokens), max(reserve.cost, most.cost))
        budget_claim = BudgetClaim(
            chat.id, claim.idempotency_key, accounts, reserve, self._clock(), claim.expires_at
        )
        await self._repository.claim_budget(budget_claim)

    def _chain(self, chat: Chat, own: FittedPrompt) -> Iterator[FittedPrompt]:
        """The prompt of each model that may answer: the chat's own, then each fallback that
        the question fits (fitted to its own window, which may keep more of the history)."""
        yield own
        for model in self._registry.chain(chat.model)[1:]:
            try:
                yield self._fitter.fit(chat, own.asked, model)
            except (MessageTooLong, ContextLengthExceeded):
                # A fallback the turn cannot fit is never called: nothing to reserve for it, and
                # no refusal here of a turn that its own model may well answer.
                continue


def _most(prompt: FittedPrompt) -> Spend:
    """The most `prompt`'s call may cost: its prompt as the provider counts it (our count
    scaled as it was fitted) and its whole reply room, at its model's prices."""
    prompt_tokens = math.ceil(prompt.fit.prompt_tokens * prompt.ratio.scale)
    reply_tokens = prompt.request.params.max_completion_tokens
    model = prompt.request.model
    return Spend(prompt_tokens + reply_tokens, cost_of(model.prices, prompt_tokens, reply_tokens))
