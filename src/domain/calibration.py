"""Calibrated counting: our count of a prompt, scaled to what the model's provider counts.

We count every prompt with a tiktoken encoding. For OpenAI's models that is the model's own
tokenizer, and our count is the provider's. For the others (Claude, a Llama or Qwen behind an
OpenAI-compatible server) the encoding only stands in for a tokenizer nobody can run offline, and
the provider may count 40 % more or fewer tokens for the same text. Each reply tells us what the
provider counted for the prompt it answered; that count over our own count of the same prompt is
the ratio the next prompt is fitted with (`Budget.scale`). Stored message costs stay ours.
"""

from __future__ import annotations

from dataclasses import dataclass

from chatservice.domain.chat import Budget, Message, Role

#: The ratios a measurement is held to. Far outside them the declared stand-in encoding is the
#: wrong one, or the report is odd (a provider's template of many tokens around a tiny prompt);
#: the bounds keep one odd report from shrinking every window to nothing or blowing it open.
MIN_TOKEN_RATIO = 0.5
MAX_TOKEN_RATIO = 2.0
#: Added to a measured ratio when a prompt is fitted with it: the measured prompt lacked the
#: newest messages (the last reply, the new message), whose own ratio may differ from the rest's.
#: Over many turns of varied text the next prompt's ratio came within 5 % of the last one's.
RATIO_HEADROOM = 0.05


def _bounded(ratio: float) -> float:
    return min(max(ratio, MIN_TOKEN_RATIO), MAX_TOKEN_RATIO)


@dataclass(frozen=True)
class TokenRatio:
    """How many tokens the provider counts for each of ours, and the headroom a fit adds."""

    value: float
    headroom: float = RATIO_HEADROOM

    @classmethod
    def measured(cls, provider_tokens: int, our_tokens: int) -> TokenRatio:
        """The ratio shown by one prompt: the provider's count of it over ours, within bounds."""
        return cls(_bounded(provider_tokens / our_tokens))

    @property
    def scale(self) -> float:
        """What a fit multiplies our count by (`Budget.scale`)."""
        return self.value * (1 + self.headroom)

    @property
    def exact(self) -> bool:
        return self == EXACT


#: The ratio of a model we count with its own tokenizer: our counts are the provider's.
EXACT = TokenRatio(1.0, headroom=0.0)
#: The ratio assumed for a model no reply has measured yet: the largest allowed, so that its
#: first prompt is fitted as if the provider counted twice our tokens. A chat's first prompt is
#: mostly short, and loses nothing by it; a long one is told how much would fit.
UNMEASURED = TokenRatio(MAX_TOKEN_RATIO, headroom=0.0)


def ratio_measured_by(reply: Message) -> TokenRatio | None:
    """The ratio a stored reply measured: the provider's count of the prompt it answered over
    ours. None where either count is missing, or the provider's is only our own estimate."""
    if (
        reply.role is not Role.ASSISTANT
        or reply.usage_estimated
        or not reply.prompt_tokens
        or not reply.estimated_prompt_tokens
    ):
        return None
    return TokenRatio.measured(reply.prompt_tokens, reply.estimated_prompt_tokens)


def ratio_after_refusal(our_tokens: int, provider_tokens: int | None) -> TokenRatio:
    """The ratio to fit a prompt again with once the provider refused it as too long: the ratio
    its count shows, where its refusal said what it counted. Otherwise the largest allowed: the
    refusal shows that the provider counted more than the window left, not by how much, and the
    prompt is sent only once more."""
    if provider_tokens is None:
        return UNMEASURED
    return TokenRatio.measured(provider_tokens, our_tokens)


def least_ratio_refused(our_tokens: int, budget: Budget) -> TokenRatio:
    """The least ratio a refusal as too long shows, for a prompt we counted at `our_tokens` and
    fitted in `budget`. Whether a provider refuses a prompt that leaves less than the reserve
    for the reply (OpenAI) or only one over the window (Anthropic), it counted more than
    `window - reserve` tokens."""
    return TokenRatio.measured(budget.window - budget.reserve + 1, our_tokens)
