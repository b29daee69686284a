"""The first model of a chat's chain to answer: the chat's own, or one of its fallbacks.

A model's provider that fails before any text came moves the turn to the model's next fallback
(`ModelSpec.fallbacks`), its window fitted again for that model; after the first text, nothing
moves. A prompt the provider refuses as too long although our calibrated count said it fit is
fitted again at the ratio the refusal shows and sent once more, before any fallback is tried.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

from chatservice.application.calibration import TokenCalibration
from chatservice.application.clock import Clock
from chatservice.application.model_reply import ModelReply
from chatservice.application.ports import ChatGateway, ChatRepository, TurnClaim
from chatservice.application.prompts import FittedPrompt, PromptFitter
from chatservice.domain.chat import Chat
from chatservice.domain.errors import (
    ChatServiceError,
    MessageTooLong,
    ProviderRateLimited,
    ProviderRejected,
    ProviderTimeout,
    ProviderUnavailable,
)
from chatservice.domain.models import ModelRegistry

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


class FirstAnswer:
    """Start the reply of the first model of a chat's chain that gets as far as its first text."""

    def __init__(
        self,
        gateway: ChatGateway,
        repository: ChatRepository,
        registry: ModelRegistry,
        fitter: PromptFitter,
        calibration: TokenCalibration,
        clock: Clock,
        claim_ttl: timedelta,
    ) -> None:
        self._gateway = gateway
        self._repository = repository
        self._registry = registry
        self._fitter = fitter
        self._calibration = calibration
        self._clock = clock
        self._claim_ttl = claim_ttl

    async def __call__(
        self, chat: Chat, claim: TurnClaim, own: FittedPrompt
    ) -> tuple[FittedPrompt, ModelReply]:
        """The reply of the chat's own model, started up to its first text. When that model's
        provider fails before it (`FALLBACK_ERRORS`), the turn moves to the next model of the
        chain, its window fitted again, provided the claim still holds: it is renewed for the
        fallback's whole time (and the turn's budget reserves with it), so no model of the chain
        runs past it. A fallback the new message alone does not fit is passed over. When no
        model answers, the error of the last one tried. After the first text, nothing moves:
        the reply's failures are the turn's."""
        failure: ChatServiceError | None = None
        for candidate in self._candidates(chat, own):
            if failure is not None and not await self._renewed(chat, claim):
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

    async def _renewed(self, chat: Chat, claim: TurnClaim) -> bool:
        """Whether the turn still holds its chat, now for a whole claim's time more."""
        now = self._clock()
        return await self._repository.renew_turn(
            chat.id, claim.idempotency_key, now, now + self._claim_ttl
        )

    def _candidates(self, chat: Chat, own: FittedPrompt) -> Iterator[FittedPrompt]:
        """The prompt of each model of the chain in turn, fitted when it comes to it: the
        chat's own first, then each fallback the new message fits."""
        yield own
        tried = own.request.model.name
        for model in self._registry.chain(chat.model)[1:]:
            try:
                prompt = self._fitter.fit(chat, own.asked, model, fallback_from=tried)
            except MessageTooLong:
                continue
            tried = model.name
            yield prompt

    async def _started(self, chat: Chat, prompt: FittedPrompt) -> tuple[FittedPrompt, ModelReply]:
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

    def _refitted(
        self, chat: Chat, prompt: FittedPrompt, refusal: MessageTooLong
    ) -> FittedPrompt | None:
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
        again = self._fitter.fit(chat, prompt.asked, prompt.request.model, ratio=ratio)
        return replace(again, refitted=True)
