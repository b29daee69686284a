"""One turn of a conversation: claim the chat, let the model answer, commit the turn.

No transaction or connection is held while the model streams. Whatever goes wrong after the
claim (the model fails, the caller leaves, the commit loses a race) releases the claim and stores
nothing of the turn, so the caller may simply retry.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from datetime import timedelta
from typing import Protocol

from chatservice.application.background import BackgroundWork
from chatservice.application.busy import wait_while_busy
from chatservice.application.clock import Clock, utc_now
from chatservice.application.ids import new_id
from chatservice.application.policy import ChatPolicy
from chatservice.application.ports import (
    ChatGateway,
    ChatRepository,
    CompletionEnd,
    CompletionRequest,
    PromptMessage,
    StoredTurn,
    TextDelta,
    TokenCounter,
    TurnClaim,
)
from chatservice.application.rate_limit import TurnRateLimiter
from chatservice.application.turn_events import Completed, Delta, TurnEvent
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
    validate_request_id,
    validate_user_id,
)
from chatservice.domain.errors import (
    IdempotencyKeyReused,
    ProviderUnavailable,
    TurnInProgress,
)
from chatservice.domain.models import ModelRegistry, ModelSpec
from chatservice.domain.turn import TurnRecord

#: How often a retry looks for the outcome of the same request still running elsewhere.
RETRY_PAUSES = (0.1,)


class Turn(Protocol):
    """Claim → generate → commit for a message whose input is checked: `TakeTurn`, or a wrapper
    of it (`ObservedTurn`). The events and errors are those of `SendMessage`."""

    def __call__(
        self, user_id: str, chat_id: str, content: str, request_id: str | None, deltas: bool
    ) -> AsyncGenerator[TurnEvent, None]: ...


class SendMessage:
    """What the transports call to send a user's message: the input and the user's rate are
    checked, then the turn is taken."""

    def __init__(
        self, take_turn: Turn, policy: ChatPolicy, rate_limiter: TurnRateLimiter | None = None
    ) -> None:
        self._take_turn = take_turn
        self._policy = policy
        self._rate_limiter = rate_limiter or TurnRateLimiter(0)

    def check_input(self, user_id: str, content: str, request_id: str | None = None) -> None:
        """Raise `InvalidInput` unless the user id, message and request id obey the input rules."""
        validate_user_id(user_id)
        validate_content(content, self._policy.max_message_chars)
        if request_id is not None:
            validate_request_id(request_id)

    async def __call__(
        self,
        user_id: str,
        chat_id: str,
        content: str,
        request_id: str | None = None,
        *,
        deltas: bool = True,
    ) -> AsyncGenerator[TurnEvent, None]:
        """Yield the reply as `Delta`s, then `Completed` once the turn is stored. With
        `deltas=False`, only `Completed`: for callers that want the stored reply alone, the
        reply's chunks are not handed up through every layer.

        Raises `InvalidInput`, `RateLimited`, `ChatNotFound`, `ChatEnded`, `TurnInProgress`,
        `MessageTooLong`, `IdempotencyKeyReused`, `ConcurrentUpdate`, `StorageUnavailable` and
        the `Provider*` errors.
        A retry with the `request_id` of a committed turn yields that turn's `Completed` again
        without calling the model.
        """
        self.check_input(user_id, content, request_id)
        # Before any database or model work: a flood costs a dictionary look-up each.
        self._rate_limiter.admit(user_id)
        # aclosing: when our caller closes us, the turn (and with it the model's stream) is
        # closed at once, not whenever it is collected.
        async with aclosing(self._take_turn(user_id, chat_id, content, request_id, deltas)) as turn:
            async for event in turn:
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
        work: BackgroundWork,
        clock: Clock = utc_now,
        retry_pauses: Sequence[float] = RETRY_PAUSES,
    ) -> None:
        self._repository = repository
        self._gateway = gateway
        self._counter = counter
        self._registry = registry
        self._policy = policy
        self._work = work
        self._clock = clock
        self._retry_pauses = retry_pauses

    async def __call__(
        self, user_id: str, chat_id: str, content: str, request_id: str | None, deltas: bool
    ) -> AsyncGenerator[TurnEvent, None]:
        chat_or_replay = await self._claim_or_replay(user_id, chat_id, content, request_id)
        if isinstance(chat_or_replay, Completed):
            yield chat_or_replay
            return
        chat, claim = chat_or_replay
        completed = False
        try:
            claimed = self._run_claimed_turn(chat, content, claim.request_id, deltas)
            async with aclosing(claimed) as events:
                async for event in events:
                    # Once the turn is stored, the caller closing the stream undoes nothing.
                    completed = isinstance(event, Completed)
                    yield event
        except BaseException:
            if not completed:
                await self._work.despite_cancellation(
                    self._repository.release_turn(chat.id, claim.request_id)
                )
            raise

    async def _claim_or_replay(
        self, user_id: str, chat_id: str, content: str, request_id: str | None
    ) -> tuple[Chat, TurnClaim] | Completed:
        """Claim the chat, or return the stored outcome of a retried request.

        A retry whose first attempt still holds the chat waits until that attempt lands (its
        outcome is returned) or lets go (the retry then runs the turn itself).
        """

        async def claim_or_replay() -> tuple[Chat, TurnClaim] | Completed:
            if request_id is not None:
                stored = await self._repository.find_turn(user_id, chat_id, request_id)
                if stored is not None:
                    return _replayed(chat_id, content, stored)
            now = self._clock()
            claim = TurnClaim(
                request_id or new_id(),
                now,
                now + timedelta(seconds=self._policy.claim_ttl_seconds),
            )
            return await self._repository.claim_turn(user_id, chat_id, claim), claim

        def same_request(busy: TurnInProgress) -> bool:
            return request_id is not None and busy.request_id == request_id

        return await wait_while_busy(
            claim_or_replay, self._policy.claim_ttl_seconds, self._retry_pauses, same_request
        )

    async def _run_claimed_turn(
        self, chat: Chat, content: str, request_id: str, deltas: bool
    ) -> AsyncGenerator[TurnEvent, None]:
        model = self._registry.lookup(chat.model)
        user_cost = self._counter.message_cost(model.encoding, Role.USER, content)
        budget = Budget(
            model.context_window, chat.params.max_completion_tokens, self._policy.window_margin
        )
        fit = erase_to_fit(chat.messages, user_cost, budget)
        prompt = (
            *(PromptMessage(m.role, m.content) for m in fit.kept),
            PromptMessage(Role.USER, content),
        )
        request = CompletionRequest(model, prompt, chat.params, request_id)
        parts: list[str] = []
        end: CompletionEnd | None = None
        async with aclosing(self._gateway.stream(request)) as events:
            async for event in events:
                if isinstance(event, TextDelta):
                    if event.text:
                        parts.append(event.text)
                        if deltas:
                            yield Delta(event.text)
                else:
                    end = event
        if end is None:
            raise ProviderUnavailable("the model's stream ended without a finish reason")
        if not parts:
            raise ProviderUnavailable("the model returned an empty reply")
        turn = self._turn_record(
            chat, content, user_cost, request_id, model, fit, "".join(parts), end
        )
        await self._repository.commit_turn(turn)
        yield Completed(chat.id, turn.user_message, turn.reply, len(fit.erased), model.name)

    def _turn_record(
        self,
        chat: Chat,
        content: str,
        user_cost: int,
        request_id: str,
        model: ModelSpec,
        fit: Fit,
        reply_text: str,
        end: CompletionEnd,
    ) -> TurnRecord:
        now = self._clock()
        position = chat.next_position
        # A reply is counted from its visible text: a provider's completion_tokens may include
        # hidden reasoning tokens, which never come back into the prompt.
        reply_tokens = self._counter.count(model.encoding, reply_text)
        reply_cost = self._counter.message_cost(model.encoding, Role.ASSISTANT, "") + reply_tokens
        usage = end.usage or Usage(fit.prompt_tokens, reply_tokens)
        user_message = Message(
            new_id(), Role.USER, content, user_cost, position, now, request_id=request_id
        )
        reply = Message(
            new_id(),
            Role.ASSISTANT,
            reply_text,
            reply_cost,
            position + 1,
            now,
            finish_reason=end.finish_reason,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            usage_estimated=end.usage is None,
        )
        return TurnRecord(
            chat_id=chat.id,
            request_id=request_id,
            expected_version=chat.version,
            user_message=user_message,
            reply=reply,
            erase_before=fit.erase_before,
            usage=usage,
            title=None if chat.title else title_from(content),
            updated_at=now,
        )


def _replayed(chat_id: str, content: str, stored: StoredTurn) -> Completed:
    if stored.user_message.content != content:
        raise IdempotencyKeyReused(stored.user_message.request_id or "")
    return Completed(chat_id, stored.user_message, stored.reply, replayed=True)
