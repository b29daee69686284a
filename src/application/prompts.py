"""A turn's prompt for one model: the history its question follows, fitted to the model's window.

The window rule itself is the domain's (`erase_to_fit`); this module feeds it what a model counts:
each message's cost in the model's encoding, the chat's summary, the reply reserve capped at the
model's largest reply, and our counts scaled by the calibrated ratio where the model's tokenizer
is only estimated (`calibration.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from chatservice.application.calibration import TokenCalibration
from chatservice.application.observability import current_trace_id
from chatservice.application.policy import ChatPolicy
from chatservice.application.ports import CompletionRequest, PromptMessage, TokenCounter
from chatservice.application.summaries import in_prompt, summary_message
from chatservice.application.turn_actions import Asked
from chatservice.application.turn_options import truncation_refused
from chatservice.domain.calibration import TokenRatio
from chatservice.domain.chat import Budget, Chat, Fit, Message, Role, erase_to_fit
from chatservice.domain.errors import ContextLengthExceeded
from chatservice.domain.models import ModelRegistry, ModelSpec


@dataclass(frozen=True)
class FittedPrompt:
    """A model's request for the turn, and how its window was fitted."""

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


class PromptFitter:
    """Fit a chat's window, and the question it is asked, to a model."""

    def __init__(
        self,
        counter: TokenCounter,
        registry: ModelRegistry,
        policy: ChatPolicy,
        calibration: TokenCalibration,
    ) -> None:
        self._counter = counter
        self._registry = registry
        self._policy = policy
        self._calibration = calibration

    def fit(
        self,
        chat: Chat,
        asked: Asked,
        model: ModelSpec,
        fallback_from: str | None = None,
        ratio: TokenRatio | None = None,
    ) -> FittedPrompt:
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
        return FittedPrompt(request, asked, user_cost, fit, ratio, budget)

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


def stored_window(own: FittedPrompt, answer: FittedPrompt) -> FittedPrompt:
    """The window a turn stores (its costs, its erasures): the chat's own model's, as it was
    sent when that model answered (fitted again, perhaps), else as it was first fitted. A
    fallback's window, narrower or wider, was for its one prompt and erases nothing."""
    return answer if answer.request.model.name == own.request.model.name else own
