"""One turn of a conversation: claim the chat, let the model answer, commit the turn.

`SendMessage` is what the transports call: it checks the input and the user's rate, then hands
over to `TakeTurn`, whose `__call__` is the whole turn in three steps. No transaction or
connection is held while the model streams. Whatever goes wrong after the claim (the model fails,
the caller leaves, the commit loses a race) releases the claim and stores nothing of the turn, so
the caller may simply retry. Metrics wrap the turn from outside (`observed.py`).

Where our count of a model's tokens is only an estimate, the window is fitted at the calibrated
ratio (`calibration.py`), and a prompt the provider still refuses as too long before any text
came is fitted again at the ratio the refusal shows and sent once more. A model's provider that
fails before any text came (that refusal included, when it stands) moves the turn to the
model's next fallback (`ModelSpec.fallbacks`), its window fitted again for that model; after the
first text, nothing moves.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator, Sequence
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Protocol

from chatservice.application.background import BackgroundWork
from chatservice.application.busy import wait_while_busy
from chatservice.application.calibration import TokenCalibration
from chatservice.application.clock import Clock, utc_now
from chatservice.application.ids import new_id
from chatservice.application.model_reply import ModelReply
from chatservice.application.observability import current_trace_id
from chatservice.application.policy import ChatPolicy
from chatservice.application.ports import (
    ChatGateway,
    ChatRepository,
    CompletionEnd,
    CompletionRequest,
    PromptMessage,
    TokenCounter,
    TurnClaim,
)
from chatservice.application.rate_limit import TurnRateLimiter
from chatservice.application.summaries import in_prompt, summary_message
from chatservice.application.turn_actions import Asked, landed, replayed
from chatservice.application.turn_events import Accepted, Completed, Delta, TurnEvent
from chatservice.application.turn_options import as_asked, truncation_refused
from chatservice.domain.calibration import TokenRatio
from chatservice.domain.chat import (
    Budget,
    Chat,
    Fit,
    Message,
    Role,
    Usage,
    erase_to_fit,
    title_from,
    validate_content,
    validate_idempotency_key,
    validate_user_id,
)
from chatservice.domain.errors import (
    ChatServiceError,
    ContextLengthExceeded,
    MessageTooLong,
    ProviderRateLimited,
    ProviderRejected,
    ProviderTimeout,
    ProviderUnavailable,
    TurnInProgress,
)
from chatservice.domain.models import ModelRegistry, ModelSpec
from chatservice.domain.turn import Send, TurnAction, TurnOptions, TurnRecord

log = logging.getLogger(__name__)

#: The failures of a model's provider before its first text that move a turn to the model's
#: next fallback: it was overloaded, down, slow to start, limiting us, refusing us (credentials
#: or the request: another provider may well take it), or found the prompt too long for it.
FALLBACK_ERRORS = (
    ProviderUnavailable,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderRejected,
    MessageTooLong,
)

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
    """What the transports call to send a user's message: the input and the user's rate are
    checked, then the turn is taken."""

    def __init__(self, take_turn: Turn, policy: ChatPolicy, rate_limiter: TurnRateLimiter) -> None:
        """`rate_limiter`: the container's, as the settings choose it (a limit of 0 turns a
        minute admits every turn), so the limit has one default, the settings'."""
        self._take_turn = take_turn
        self._policy = policy
        self._rate_limiter = rate_limiter

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
        `MessageTooLong`, `IdempotencyKeyReused`, `ConcurrentUpdate`, `StorageUnavailable` and
        the `Provider*` errors.
        A retry with the `idempotency_key` of a committed turn yields that turn's `Completed`
        again without calling the model.
        """
        self.check_input(user_id, content, idempotency_key)
        # Before any database or model work: a flood costs a look-up each (in memory or Redis).
        await self._rate_limiter.admit(user_id)
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
        clock: Clock = utc_now,
        retry_pauses: Sequence[float] = RETRY_PAUSES,
        after_commit: Callable[[Chat, TurnRecord], None] = lambda chat, turn: None,
    ) -> None:
        self._repository = repository
        self._gateway = gateway
        self._counter = counter
        self._registry = registry
        self._policy = policy
        self._calibration = calibration
        self._work = work
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
            own = self._prompt(chat, asked, self._registry.servable(chat.model))
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

    def _prompt(
        self,
        chat: Chat,
        asked: Asked,
        model: ModelSpec,
        fallback_from: str | None = None,
        ratio: TokenRatio | None = None,
    ) -> _Prompt:
        """`model`'s request: the history the question follows (the chat's window, less what
        the action supersedes), its oldest exchanges erased until the question fits
        (`MessageTooLong` when it cannot), then the question. Our counts are scaled by `ratio`,
        by default the calibration's for this chat and model.

        For a fallback, the window is fitted to the fallback's limits: its context window, the
        chat's reply reserve capped at its largest reply, and its counting."""
        params = chat.params
        if params.max_completion_tokens > model.max_output:
            params = replace(params, max_completion_tokens=model.max_output)
        content = asked.content
        user_cost = self._counter.message_cost(model.encoding, Role.USER, content)
        if ratio is None:
            ratio = self._calibration.ratio_for(chat, model)
        budget = Budget(
            model.context_window,
            params.max_completion_tokens,
            self._policy.window_margin,
            ratio.scale,
        )
        history, summary = self._history(chat, asked.revision.history, model)
        fit = erase_to_fit(history, user_cost, budget, summary.tokens if summary else None)
        if fit.erased and truncation_refused(asked.action):
            raise ContextLengthExceeded()
        messages = (
            *(PromptMessage(m.role, m.content) for m in in_prompt(fit, summary)),
            PromptMessage(Role.USER, content),
        )
        request = CompletionRequest(
            model, messages, params, current_trace_id.get(), fallback_from=fallback_from
        )
        return _Prompt(request, asked, user_cost, fit, ratio, budget)

    def _history(
        self, chat: Chat, history: Sequence[Message], model: ModelSpec
    ) -> tuple[Sequence[Message], Message | None]:
        """`history`, and the chat's summary if it has one, as `model` counts them. The stored
        costs were counted once, in the chat's own model's encoding; only a fallback on another
        encoding counts them again (for its prompt alone: nothing stored changes)."""
        summary = summary_message(chat.summary) if chat.summary else None
        if model.encoding == self._registry.lookup(chat.model).encoding:
            return history, summary
        window = [
            replace(m, tokens=self._counter.message_cost(model.encoding, m.role, m.content))
            for m in (*history, *([summary] if summary else []))
        ]
        return window[: len(history)], window[-1] if summary else None

    async def _first_answer(
        self, chat: Chat, claim: TurnClaim, own: _Prompt
    ) -> tuple[_Prompt, ModelReply]:
        """The reply of the chat's own model, started up to its first text. When that model's
        provider fails before it (`FALLBACK_ERRORS`), the turn moves to the next model of the
        chain, its window fitted again, for as long as the claim holds; a fallback the new
        message alone does not fit is passed over. When no model answers, the error of the last
        one tried. After the first text, nothing moves: the reply's failures are the turn's."""
        failure: ChatServiceError | None = None
        for candidate in self._candidates(chat, own):
            if failure is not None and self._clock() >= claim.expires_at:
                break
            try:
                return await self._started(chat, candidate)
            except FALLBACK_ERRORS as error:
                log.warning(
                    "model %s failed before its first text (%s)",
                    candidate.request.model.name,
                    error.code,
                )
                failure = error
        assert failure is not None  # the chat's own model is always tried
        raise failure

    def _candidates(self, chat: Chat, own: _Prompt) -> Iterator[_Prompt]:
        """The prompt of each model of the chain in turn, fitted when it comes to it: the
        chat's own first, then each fallback the new message fits."""
        yield own
        tried = own.request.model.name
        for model in self._registry.chain(chat.model)[1:]:
            try:
                prompt = self._prompt(chat, own.asked, model, fallback_from=tried)
            except MessageTooLong:
                continue
            tried = model.name
            yield prompt

    async def _started(self, chat: Chat, prompt: _Prompt) -> tuple[_Prompt, ModelReply]:
        """`prompt`'s reply, started up to its first text. A prompt its provider refuses as
        too long although our calibrated count said it fit is fitted again at the ratio the
        refusal shows and sent once more (`_refitted`); whatever else fails is raised."""
        while True:
            reply = ModelReply(self._gateway.stream(prompt.request))
            try:
                await reply.start()
            except BaseException as error:
                await reply.aclose()
                if not isinstance(error, MessageTooLong):
                    raise
                if (refitted := self._refitted(chat, prompt, error)) is None:
                    raise
                prompt = refitted
                continue
            return prompt, reply

    def _refitted(self, chat: Chat, prompt: _Prompt, refusal: MessageTooLong) -> _Prompt | None:
        """The prompt fitted again after the provider refused it as too long although our
        calibrated count said it fit: at the ratio the refusal shows, once, and only before any
        text came. None where that cannot help (exact counts, a second refusal, a ratio at its
        bound); the refusal then stands."""
        if prompt.refitted:
            return None
        ratio = self._calibration.refused(
            prompt.request.model,
            prompt.ratio,
            prompt.fit.prompt_tokens,
            prompt.budget,
            refusal.provider_prompt_tokens,
        )
        if ratio is None:
            return None
        # The same request again, better fitted: a fallback is counted once, at its first.
        again = self._prompt(chat, prompt.asked, prompt.request.model, ratio=ratio)
        return replace(again, refitted=True)

    async def _commit(
        self, chat: Chat, claim: TurnClaim, own: _Prompt, answer: _Prompt, reply: ModelReply
    ) -> Completed:
        """Store the turn in one transaction that checks the chat's version: what the chat's
        own model's window says (its costs, its erasures), whichever model answered."""
        text, end = reply.whole()
        if end.usage is not None:
            self._calibration.measured(
                answer.request.model, answer.fit.prompt_tokens, end.usage.prompt_tokens
            )
        turn = self._turn_record(chat, claim, own, answer, text, end)
        await self._repository.commit_turn(turn)
        self._after_commit(chat, turn)
        question = turn.user_message or own.asked.question
        assert question is not None  # a turn adds a question, or answers a stored one again
        erased = len(_stored_window(own, answer).fit.erased)
        return Completed(chat.id, question, turn.reply, erased, answer.request.model.name)

    def _turn_record(
        self,
        chat: Chat,
        claim: TurnClaim,
        own: _Prompt,
        answer: _Prompt,
        reply_text: str,
        end: CompletionEnd,
    ) -> TurnRecord:
        window = _stored_window(own, answer)
        model, fit, asked = window.request.model, window.fit, window.asked
        now = self._clock()
        position = chat.next_position
        # A regenerate adds a reply alone, which holds the turn's key.
        new_question = asked.question is None
        # A reply is counted from its visible text: a provider's completion_tokens may include
        # hidden reasoning tokens, which never come back into the prompt.
        reply_tokens = self._counter.count(model.encoding, reply_text)
        reply_cost = self._counter.message_cost(model.encoding, Role.ASSISTANT, "") + reply_tokens
        # Priced at the prices of the model that answered (a fallback bills at its own).
        answering = answer.request.model
        usage = (end.usage or Usage(answer.fit.prompt_tokens, reply_tokens)).priced(
            answering.prices, end.cached_prompt_tokens
        )
        user_message = Message(
            new_id(),
            Role.USER,
            asked.content,
            window.user_cost,
            position,
            now,
            idempotency_key=claim.idempotency_key,
            replaces=asked.replaced_question,
        )
        reply = Message(
            new_id(),
            Role.ASSISTANT,
            reply_text,
            reply_cost,
            position + 1 if new_question else position,
            now,
            idempotency_key=None if new_question else claim.idempotency_key,
            replaces=asked.replaced_reply,
            finish_reason=end.finish_reason,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            usage_estimated=end.usage is None,
            # Our count of the very prompt the provider's `prompt_tokens` is for.
            estimated_prompt_tokens=answer.fit.prompt_tokens,
            model=answering.name,
            cached_prompt_tokens=usage.cached_prompt_tokens,
            cost=usage.cost,
        )
        return TurnRecord(
            chat_id=chat.id,
            idempotency_key=claim.idempotency_key,
            expected_version=chat.version,
            user_message=user_message if new_question else None,
            reply=reply,
            erase_before=fit.erase_before,
            usage=usage,
            title=None if chat.title else title_from(asked.content),
            updated_at=now,
            supersede_from=asked.revision.supersede_from,
        )


@dataclass(frozen=True)
class _Prompt:
    request: CompletionRequest
    #: What the turn's action asks, and what its question costs in the window.
    asked: Asked
    user_cost: int
    fit: Fit
    #: What our counts were scaled by, and the budget they were fitted in.
    ratio: TokenRatio
    budget: Budget
    #: Fitted again after the provider refused the first fit as too long.
    refitted: bool = False


def _stored_window(own: _Prompt, answer: _Prompt) -> _Prompt:
    """The window a turn stores (its costs, its erasures): the chat's own model's, as it was
    sent when that model answered (fitted again, perhaps), else as it was first fitted. A
    fallback's window, narrower or wider, was for its one prompt and erases nothing."""
    return answer if answer.request.model.name == own.request.model.name else own
