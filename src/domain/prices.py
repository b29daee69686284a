"""What a model call costs: prices per million tokens, and the exact cost of reported usage.

Money is `decimal.Decimal` from the price table to the stored figure: a float cannot hold
$0.075 per million tokens, and a sum of floats drifts from the sum of the bills."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from chatservice.domain.errors import InvalidInput

PER = Decimal(1_000_000)
#: The finest fraction of a dollar a price may name per million tokens. With it every cost is a
#: whole number of picodollars (10^-12 USD), which is how the database keeps it exactly.
PRICE_PLACES = 6
COST_PLACES = PRICE_PLACES + 6
ZERO = Decimal(0)


@dataclass(frozen=True)
class Prices:
    """USD per million tokens. `cached_input`: the price of the prompt tokens the provider read
    from its cache (None: it bills them as any input). `long_prompt`: the prices of a call whose
    prompt is over `long_prompt_threshold` tokens, on every token of it (Claude Haiku 5.5's
    second band)."""

    input: Decimal
    output: Decimal
    cached_input: Decimal | None = None
    long_prompt_threshold: int | None = None
    long_prompt: Prices | None = None

    def __post_init__(self) -> None:
        for name in ("input", "output", "cached_input"):
            value = getattr(self, name)
            if value is not None:
                check_price(f"{name}_price", value)
        if (self.long_prompt is None) != (self.long_prompt_threshold is None):
            raise InvalidInput("long_prompt and long_prompt_threshold go together")
        if self.long_prompt_threshold is not None and self.long_prompt_threshold <= 0:
            raise InvalidInput("long_prompt_threshold must be positive")


def check_price(name: str, value: Decimal) -> Decimal:
    """A price is a finite, non-negative number of at most `PRICE_PLACES` decimals."""
    if not value.is_finite() or value < 0:
        raise InvalidInput(f"{name} must be a non-negative number of dollars per million tokens")
    exponent = value.normalize().as_tuple().exponent
    assert isinstance(exponent, int)  # finite, checked above
    if -exponent > PRICE_PLACES:
        raise InvalidInput(f"{name} may have at most {PRICE_PLACES} decimals")
    return value


FREE = Prices(ZERO, ZERO)


def usd(amount: str | int) -> Decimal:
    """A price written as text or a whole number, never through a float."""
    return Decimal(amount)


def cost_of(
    prices: Prices, prompt_tokens: int, completion_tokens: int, cached_prompt_tokens: int = 0
) -> Decimal:
    """What a call cost in USD, exactly: `cached_prompt_tokens` of `prompt_tokens` at the cached
    price (where the provider has one), the rest of the prompt at the input price, the completion
    at the output price. A prompt over the long-prompt threshold pays the long-prompt prices."""
    if min(prompt_tokens, completion_tokens, cached_prompt_tokens) < 0:
        raise InvalidInput("token counts must not be negative")
    cached = min(cached_prompt_tokens, prompt_tokens)
    if prices.long_prompt is not None and prompt_tokens > (prices.long_prompt_threshold or 0):
        prices = prices.long_prompt
    cached_price = prices.input if prices.cached_input is None else prices.cached_input
    total = (
        (prompt_tokens - cached) * prices.input
        + cached * cached_price
        + completion_tokens * prices.output
    ) / PER
    # Exact already (prices have at most PRICE_PLACES decimals): quantizing only fixes the scale.
    return total.quantize(Decimal(1).scaleb(-COST_PLACES))


def cost_text(cost: Decimal) -> str:
    """A cost as the APIs show it: a plain decimal string, `"0.000125"`, never an exponent."""
    return format(cost.normalize(), "f")
