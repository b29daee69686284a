"""What a call costs: exact decimal dollars from reported usage (domain/prices.py)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from chatservice.domain.chat import Usage
from chatservice.domain.errors import InvalidInput
from chatservice.domain.models import BUILTIN_MODELS, ModelRegistry
from chatservice.domain.prices import Prices, cost_of, cost_text, usd

GPT_4O_MINI = Prices(usd("0.15"), usd("0.60"), usd("0.075"))
HAIKU_5_5 = ModelRegistry().lookup("claude-haiku-5-5").prices


def test_a_call_costs_its_prompt_at_the_input_price_and_its_reply_at_the_output_price() -> None:
    assert cost_of(GPT_4O_MINI, 1_000, 500) == Decimal("0.00045")


def test_cached_prompt_tokens_are_billed_at_the_cached_price_and_the_rest_at_the_input_price() -> (
    None
):
    # 600 fresh at 0.15, 400 cached at 0.075, 500 out at 0.60: 0.00009 + 0.00003 + 0.0003.
    assert cost_of(GPT_4O_MINI, 1_000, 500, cached_prompt_tokens=400) == Decimal("0.00042")


def test_a_provider_without_a_cached_price_bills_cached_tokens_as_any_input() -> None:
    no_cache = Prices(usd("0.50"), usd("1.50"))
    assert cost_of(no_cache, 1_000, 0, cached_prompt_tokens=1_000) == cost_of(no_cache, 1_000, 0)


def test_cached_tokens_are_never_more_than_the_prompt() -> None:
    assert cost_of(GPT_4O_MINI, 10, 0, cached_prompt_tokens=50) == cost_of(
        GPT_4O_MINI, 10, 0, cached_prompt_tokens=10
    )


def test_a_single_token_at_the_cheapest_price_is_an_exact_picodollar_amount() -> None:
    cost = cost_of(Prices(usd("0.000001"), usd("0")), 1, 0)
    assert cost == Decimal("0.000000000001")
    assert cost_text(cost) == "0.000000000001"


def test_costs_sum_exactly_where_floats_would_drift() -> None:
    one = cost_of(Prices(usd("0.1"), usd("0.2")), 1_000_000, 0)
    two = cost_of(Prices(usd("0.1"), usd("0.2")), 0, 1_000_000)
    assert one + two == Decimal("0.3")
    assert 0.1 + 0.2 != 0.3  # what the Decimals spare us


def test_a_cost_is_shown_as_a_plain_decimal_string_never_an_exponent() -> None:
    assert cost_text(Decimal("0.000125000")) == "0.000125"
    assert cost_text(Decimal("100.000")) == "100"
    assert cost_text(Decimal("0E-12")) == "0"


def test_a_long_prompt_pays_the_long_prompt_prices_on_every_token() -> None:
    short = cost_of(HAIKU_5_5, 100_000, 1_000, cached_prompt_tokens=50_000)
    long = cost_of(HAIKU_5_5, 100_001, 1_000, cached_prompt_tokens=50_000)
    assert short == Decimal("0.006")  # 50k x 0.10 + 50k x 0.01 + 1k x 0.50, per million
    assert long == Decimal("0.0300005")  # 50,001 x 0.50 + 50k x 0.05 + 1k x 2.50


def test_usage_priced_records_its_cached_tokens_and_cost() -> None:
    priced = Usage(1_000, 500).priced(GPT_4O_MINI, cached_prompt_tokens=400)
    assert priced == Usage(1_000, 500, 400, Decimal("0.00042"))
    assert priced + priced == Usage(2_000, 1_000, 800, Decimal("0.00084"))


@pytest.mark.parametrize("price", ["-1", "0.0000001", "NaN", "Infinity"])
def test_a_price_must_be_a_non_negative_number_of_at_most_six_decimals(price: str) -> None:
    with pytest.raises(InvalidInput):
        Prices(usd(price), usd("1"))


def test_negative_token_counts_are_refused() -> None:
    with pytest.raises(InvalidInput):
        cost_of(GPT_4O_MINI, -1, 0)


def test_every_built_in_model_carries_a_price_for_input_and_output() -> None:
    for model in BUILTIN_MODELS:
        assert model.prices.input > 0 and model.prices.output > model.prices.input, model.name


def test_a_dated_snapshot_is_priced_as_its_family() -> None:
    registry = ModelRegistry()
    assert (
        registry.lookup("claude-opus-4-5-20251101").prices
        == registry.lookup("claude-opus-4-5").prices
    )
