"""The ratio each prompt is fitted with, from what the providers reported for earlier prompts."""

from __future__ import annotations

import threading
from collections import OrderedDict, deque

from chatservice.domain.calibration import (
    EXACT,
    UNMEASURED,
    TokenRatio,
    least_ratio_refused,
    ratio_after_refusal,
    ratio_measured_by,
)
from chatservice.domain.chat import Budget, Chat
from chatservice.domain.models import ModelSpec

#: How many models, and how many of each one's latest ratios, the process remembers.
MODELS_REMEMBERED = 64
RATIOS_REMEMBERED = 32


class TokenCalibration:
    """Provider-counted over our-counted prompt tokens (`domain/calibration.py`), per model.

    A model with an exact tokenizer is fitted at `EXACT`. Any other chat's prompt is fitted at the
    ratio its last reply measured, when that model wrote it: the provider's `prompt_tokens` over
    our count of that same prompt, both stored with the reply, so that every replica reads the
    same. A chat without one (its first turn; a provider that reported no usage; a reply by
    another model of its fallback chain) is fitted at the highest ratio this process saw for the
    model lately, and a model never measured at `UNMEASURED`.

    What the process remembers is bounded, and safe to share between threads.
    """

    def __init__(
        self, models: int = MODELS_REMEMBERED, ratios_per_model: int = RATIOS_REMEMBERED
    ) -> None:
        self._models = models
        self._ratios_per_model = ratios_per_model
        self._recent: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def ratio_for(self, chat: Chat, model: ModelSpec) -> TokenRatio:
        """The ratio to fit the chat's next prompt with (`chat` as claimed: its window)."""
        if model.exact_tokenizer:
            return EXACT
        last = chat.messages[-1]
        # A reply measures the tokenizer of the model that wrote it: a fallback's reply says
        # nothing of the chat's own model, nor the other way round.
        wrote_it = (last.model or chat.model) == model.name
        return (ratio_measured_by(last) if wrote_it else None) or self._lately(model.name)

    def measured(self, model: ModelSpec, our_tokens: int, provider_tokens: int) -> None:
        """A reply of `model` came: the provider counted `provider_tokens` for a prompt we
        counted at `our_tokens`."""
        if not model.exact_tokenizer and our_tokens > 0:
            self._remember(model.name, TokenRatio.measured(provider_tokens, our_tokens))

    def refused(
        self,
        model: ModelSpec,
        ratio: TokenRatio,
        our_tokens: int,
        budget: Budget,
        provider_tokens: int | None,
    ) -> TokenRatio | None:
        """The provider refused as too long a prompt of `model` that we counted at `our_tokens`
        and fitted in `budget` at `ratio`; its refusal said it counted `provider_tokens`, if it
        said. Returns the ratio to fit the prompt again with; None where that cannot help: the
        counts are exact (they are the provider's), or the ratio would not grow. The model's
        next first turns start from what the refusal showed."""
        if model.exact_tokenizer:
            return None
        shown = (
            least_ratio_refused(our_tokens, budget)
            if provider_tokens is None
            else TokenRatio.measured(provider_tokens, our_tokens)
        )
        self._remember(model.name, shown)
        raised = ratio_after_refusal(our_tokens, provider_tokens)
        return raised if raised.scale > ratio.scale else None

    def _lately(self, model_name: str) -> TokenRatio:
        with self._lock:
            ratios = self._recent.get(model_name)
            return TokenRatio(max(ratios)) if ratios else UNMEASURED

    def _remember(self, model_name: str, ratio: TokenRatio) -> None:
        with self._lock:
            ratios = self._recent.pop(model_name, None)
            if ratios is None:
                ratios = deque(maxlen=self._ratios_per_model)
            ratios.append(ratio.value)
            self._recent[model_name] = ratios  # the most recently measured model last
            while len(self._recent) > self._models:
                self._recent.popitem(last=False)
