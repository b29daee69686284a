"""One turn of a conversation: claim the chat, let the model answer, commit the turn.

`SendMessage` is what the transports call: it checks the input, then hands over to `TakeTurn`,
whose `__call__` is the whole turn in three steps. No transaction or connection is held while
the model streams. Whatever goes wrong after the claim (the model fails, the caller leaves, the
commit loses a race) releases the claim and stores nothing of the turn, so the caller may simply
retry. The user's rate (`admitted_turns.py`) and metrics (`observed.py`) wrap the turn from
outside.

The prompt is fitted to the model's window by `prompts.py`; the turn's budget reserve is claimed
before the model is called (`budgets.py`); the model that answers is the chat's own or, when its
provider fails before any text came, one of its fallbacks (`fallbacks.py`); what the commit
stores, the turn's record, is built by `turn_records.py`.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from contextlib import aclosing, asynccontextmanager
from datetime import timedelta
from typing import Protocol

from chatservice.application.background import BackgroundWork
from chatservice.application.budgets import TurnBudgets
from chatservice.application.busy import wait_while_busy
from chatservice.application.calibration import TokenCalibration
from chatservice.application.clock import Clock, utc_now
from chatservice.application.fallbacks import FirstAnswer
from chatservice.application.ids import new_id
from chatservice.application.model_reply import ModelReply
from chatservice.application.policy import ChatPolicy
from chatservice.application.ports import (
    ChatGateway,
    ChatRepository,
    TokenCounter,
    TurnClaim,
)
from chatservice.application.prompts import FittedPrompt, PromptFitter, stored_window
from chatservice.application.turn_actions import Asked, landed, replayed
from chatservice.application.turn_events import Accepted, Completed, Delta, TurnEvent
from chatservice.application.turn_options import as_asked
from chatservice.application.turn_records import TurnRecordBuilder
from chatservice.domain.chat import (
    Chat,
    validate_content,
    validate_idempotency_key,
    validate_user_id,
)
from chatservice.domain.errors import TurnInProgress
from chatservice.domain.models import ModelRegistry
from chatservice.domain.tenants import Tenants
from chatservice.domain.turn import Send, TurnAction, TurnOptions, TurnRecord

#: How often a retry looks for the outcome of the same request still running elsewhere.
RETRY_PAUSES = (0.1,)


class Turn(Protocol):
    """Claim → generate → commit for an action whose input is checked (a new message, a
    regenerate, an edit): `TakeTurn`, or a wrapper of it (`ObservedTurn`). The events and errors
    are those of `SendMessage`, and for a regenerate or an edit `NothingToRegenerate` and
    `NotLastUserMessage` once the chat is claimed."""

    def __call__(
        self,
        user_id: str,
        chat_id: str,
        action: TurnAction,
        idempotency_key: str | None,
        deltas: bool,
    ) -> AsyncGenerator[TurnEvent, None]: ...


class SendMessage:
    """What the transports call to send a user's message: the input is checked, then the turn
    is taken (the container's `take_turn` counts the user's rate first: `RateLimitedTurn`)."""

    def __init__(self, take_turn: Turn, policy: ChatPolicy) -> None:
        self._take_turn = take_turn
        self._policy = policy

    def check_input(self, user_id: str, content: str, idempotency_key: str | None = None) -> None:
        """Raise `InvalidInput` unless the user id, message and idempotency key obey the input
        rules."""
        validate_user_id(user_id)
        validate_content(content, self._policy.max_message_chars)
        if idempotency_key is not None:
            validate_idempotency_key(idempotency_key)

    async def __call__(
        self,
        user_id: str,
        chat_id: str,
        content: str,
        idempotency_key: str | None = None,
        *,
        deltas: bool = True,
        options: TurnOptions | None = None,
    ) -> AsyncGenerator[TurnEvent, None]:
        """Yield `Accepted` once the chat is claimed and the message fits, the reply as
        `Delta`s, then `Completed` once the turn is stored. With `deltas=False`, only
        `Completed`: for callers that want the stored reply alone, the reply's chunks are not
        handed up through every layer.

        Raises `InvalidInput`, `RateLimited`, `ChatNotFound`, `ChatEnded`, `TurnInProgress`,
        `MessageTooLong`, `BudgetExhausted`, `IdempotencyKeyReused`, `ConcurrentUpdate`,
        `StorageUnavailable` and the `Provider*` errors.
        A retry with the `idempotency_key` of a committed turn yields that turn's `Completed`
        again without calling the model.
        """
        self.check_input(user_id, content, idempotency_key)
        # aclosing: when our caller closes us, the turn (and with it the model's stream) is
        # closed at once, not whenever it is collected.
        turn = self._take_turn(user_id, chat_id, Send(content, options), idempotency_key, deltas)
        async with aclosing(turn) as events:
            async for event in events:
                yield event


class TakeTurn:
    """Claim the chat, let the model answer, commit the turn."""

    def __init__(
        self,
        repository: ChatRepository,
        gateway: ChatGateway,
        counter: TokenCounter,
        registry: ModelRegistry,
        policy: ChatPolicy,
        calibration: TokenCalibration,
        work: BackgroundWork,
        tenants: Tenants,
        budgets: TurnBudgets,
        clock: Clock = utc_now,
        retry_pauses: Sequence[float] = RETRY_PAUSES,
        after_commit: Callable[[Chat, TurnRecord], None] = lambda chat, turn: None,
    ) -> None:
        """`tenants`: the scoped tokens each reply is charged to, those covering its user."""
        self._repository = repository
        self._counter = counter
        self._registry = registry
        self._policy = policy
        self._calibration = calibration
        self._work = work
        self._budgets = budgets
        self._fitter = PromptFitter(counter, registry, policy, calibration)
        self._first_answer = FirstAnswer(
            gateway,
            repository,
            registry,
            self._fitter,
            calibration,
            clock,
            timedelta(seconds=policy.claim_ttl_seconds),
        )
        self._records = TurnRecordBuilder(counter, tenants, clock)
        self._clock = clock
        self._retry_pauses = retry_pauses
        self._after_commit = after_commit  # what follows a commit (`SummaryAfterErasure`)

    async def __call__(
        self,
        user_id: str,
        chat_id: str,
        action: TurnAction,
        idempotency_key: str | None,
        deltas: bool,
    ) -> AsyncGenerator[TurnEvent, None]:
        """The turn's events, as `SendMessage` yields them."""
        claimed = await self._claim(user_id, chat_id, action, idempotency_key)  # short transaction
        if isinstance(claimed, Completed):  # a retry of a committed turn: its stored outcome
            yield claimed
            return
        chat, claim = claimed
        async with self._released_on_failure(chat.id, claim):
            chat = as_asked(chat, action, self._counter, self._registry)  # its options, if any
            # What the action makes of the window: the history the question follows.
            asked = Asked.of(chat, action)
            own = self._fitter.fit(chat, asked, self._registry.servable(chat.model))
            await self._budgets.reserve(chat, claim, own)  # given back with the claim
            if deltas:
                yield Accepted(claim.idempotency_key)
            # The chat's model, or the first of its fallbacks to get as far as its first text.
            answer, reply = await self._first_answer(chat, claim, own)
            async with reply:
                async for text in reply:  # no transaction is held while the model streams
                    if deltas:
                        yield Delta(text)
            completed = await self._commit(chat, claim, own, answer, reply)  # short, checked
        # Once the turn is stored, the caller closing the stream undoes nothing.
        yield completed

    async def _claim(
        self, user_id: str, chat_id: str, action: TurnAction, idempotency_key: str | None
    ) -> tuple[Chat, TurnClaim] | Completed:
        """Claim the chat, or return the stored outcome of a retried request.

        A retry whose first attempt still holds the chat waits until that attempt lands (its
        outcome is returned) or lets go (the retry then runs the turn itself).
        """

        async def claim_or_replay() -> tuple[Chat, TurnClaim] | Completed:
            if idempotency_key is not None:
                stored = await self._repository.find_turn(user_id, chat_id, idempotency_key)
                if stored is not None:
                    return replayed(chat_id, action, stored)
            now = self._clock()
            claim = TurnClaim(
                idempotency_key or new_id(),
                now,
                now + timedelta(seconds=self._policy.claim_ttl_seconds),
            )
            chat = await self._repository.claim_turn(user_id, chat_id, claim)
            if idempotency_key is not None and (stored := landed(chat, idempotency_key)):
                # The first attempt landed after the look-up above: its outcome, not a new turn.
                await self._repository.release_turn(chat_id, claim.idempotency_key)
                return replayed(chat_id, action, stored)
            return chat, claim

        def same_request(busy: TurnInProgress) -> bool:
            return idempotency_key is not None and busy.idempotency_key == idempotency_key

        return await wait_while_busy(
            claim_or_replay, self._policy.claim_ttl_seconds, self._retry_pauses, same_request
        )

    @asynccontextmanager
    async def _released_on_failure(self, chat_id: str, claim: TurnClaim) -> AsyncIterator[None]:
        """Whatever ends the block early (an error, a cancellation, the caller leaving) releases
        the claim, even under cancellation, so the chat is free at once and nothing is stored."""
        try:
            yield
        except BaseException:
            await self._work.despite_cancellation(
                self._repository.release_turn(chat_id, claim.idempotency_key)
            )
            raise

    async def _commit(
        self,
        chat: Chat,
        claim: TurnClaim,
        own: FittedPrompt,
        answer: FittedPrompt,
        reply: ModelReply,
    ) -> Completed:
        """Store the turn in one transaction that checks the chat's version: what the chat's
        own model's window says (its costs, its erasures), whichever model answered."""
        text, end = reply.whole()
        if end.usage is not None:
            self._calibration.measured(
                answer.request.model, answer.fit.prompt_tokens, end.usage.prompt_tokens
            )
        turn = self._records.build(chat, claim, own, answer, text, end)
        await self._repository.commit_turn(turn)
        self._after_commit(chat, turn)
        question = turn.user_message or own.asked.question
        assert question is not None  # a turn adds a question, or answers a stored one again
        erased = len(stored_window(own, answer).fit.erased)
        return Completed(chat.id, question, turn.reply, erased, answer.request.model.name)
