"""Calibrated counting: the ratio of the provider's count to ours, measured, bounded, learned."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from chatservice.application.calibration import TokenCalibration
from chatservice.domain.calibration import (
    EXACT,
    MAX_TOKEN_RATIO,
    MIN_TOKEN_RATIO,
    RATIO_HEADROOM,
    UNMEASURED,
    TokenRatio,
    least_ratio_refused,
    ratio_after_refusal,
    ratio_measured_by,
)
from chatservice.domain.chat import Budget, Chat, ChatParams, Message, Role
from chatservice.domain.models import ModelSpec

NOW = datetime(2026, 1, 1, tzinfo=UTC)
LLAMA = ModelSpec("llama", 2_000, 200, "o200k_base", 200, exact_tokenizer=False)
GPT = ModelSpec("gpt", 2_000, 200, "o200k_base", 200)


def reply(prompt_tokens: int | None, estimated: int | None, **more: object) -> Message:
    return Message(
        "r",
        Role.ASSISTANT,
        "answer",
        5,
        2,
        NOW,
        prompt_tokens=prompt_tokens,
        estimated_prompt_tokens=estimated,
        **more,  # type: ignore[arg-type]
    )


def chat_ending_with(*messages: Message) -> Chat:
    system = Message("s", Role.SYSTEM, "Be brief.", 8, 0, NOW)
    return Chat("c", "u", "llama", ChatParams(200), NOW, NOW, messages=[system, *messages])


def test_a_measured_ratio_is_the_providers_count_over_ours() -> None:
    assert TokenRatio.measured(140, 100).value == pytest.approx(1.4)
    assert TokenRatio.measured(60, 100).value == pytest.approx(0.6)


def test_a_measured_ratio_is_held_within_its_bounds() -> None:
    assert TokenRatio.measured(1_000, 100).value == MAX_TOKEN_RATIO
    assert TokenRatio.measured(1, 100).value == MIN_TOKEN_RATIO


def test_a_fit_adds_the_headroom_to_a_measured_ratio_but_not_to_an_exact_one() -> None:
    assert TokenRatio.measured(140, 100).scale == pytest.approx(1.4 * (1 + RATIO_HEADROOM))
    assert EXACT.scale == 1.0
    assert UNMEASURED.scale == MAX_TOKEN_RATIO


def test_a_stored_reply_measures_its_prompts_ratio() -> None:
    ratio = ratio_measured_by(reply(1_400, 1_000))
    assert ratio is not None and ratio.value == pytest.approx(1.4)


@pytest.mark.parametrize(
    "stored",
    [
        reply(1_400, None),
        reply(None, 1_000),
        reply(1_000, 1_000, usage_estimated=True),
        replace(reply(1_400, 1_000), role=Role.USER),
    ],
    ids=["stored-before-calibration", "no-usage", "usage-was-our-estimate", "not-a-reply"],
)
def test_a_message_without_both_counts_measures_nothing(stored: Message) -> None:
    assert ratio_measured_by(stored) is None


def test_a_refusal_that_says_the_count_gives_the_ratio_it_shows() -> None:
    assert ratio_after_refusal(1_000, 1_700).value == pytest.approx(1.7)


def test_a_refusal_that_does_not_say_the_count_gives_the_largest_ratio() -> None:
    assert ratio_after_refusal(1_000, None) == UNMEASURED


def test_a_refusal_shows_that_the_provider_counted_more_than_the_window_left() -> None:
    least = least_ratio_refused(1_000, Budget(window=2_000, reserve=200))
    assert least.value == pytest.approx(1.801)


def test_an_exact_model_is_fitted_with_our_count() -> None:
    calibration = TokenCalibration()
    calibration.measured(GPT, 1_000, 1_400)
    assert calibration.ratio_for(chat_ending_with(reply(1_400, 1_000)), GPT) == EXACT


def test_a_chat_is_fitted_with_the_ratio_its_last_reply_measured() -> None:
    calibration = TokenCalibration()
    calibration.measured(LLAMA, 1_000, 1_900)  # another chat's
    ratio = calibration.ratio_for(chat_ending_with(reply(1_200, 1_000)), LLAMA)
    assert ratio.value == pytest.approx(1.2)


def test_a_first_turn_is_fitted_with_the_highest_ratio_measured_lately() -> None:
    calibration = TokenCalibration()
    for provider_tokens in (1_300, 1_450, 1_350):
        calibration.measured(LLAMA, 1_000, provider_tokens)
    assert calibration.ratio_for(chat_ending_with(), LLAMA).value == pytest.approx(1.45)


def test_a_model_never_measured_is_fitted_with_the_largest_ratio() -> None:
    assert TokenCalibration().ratio_for(chat_ending_with(), LLAMA) == UNMEASURED


def test_only_the_latest_ratios_of_the_latest_models_are_remembered() -> None:
    calibration = TokenCalibration(models=2, ratios_per_model=2)
    for provider_tokens in (1_900, 1_100, 1_200):
        calibration.measured(LLAMA, 1_000, provider_tokens)
    assert calibration.ratio_for(chat_ending_with(), LLAMA).value == pytest.approx(1.2)
    for name in ("a", "b"):
        calibration.measured(replace(LLAMA, name=name), 1_000, 1_000)
    assert calibration.ratio_for(chat_ending_with(), LLAMA) == UNMEASURED


def test_a_refusal_raises_the_ratio_and_the_models_next_first_turns_start_from_it() -> None:
    calibration = TokenCalibration()
    calibration.measured(LLAMA, 1_000, 1_100)
    budget = Budget(window=2_000, reserve=200, scale=1.1 * (1 + RATIO_HEADROOM))
    raised = calibration.refused(LLAMA, TokenRatio(1.1), 1_500, budget, 2_400)
    assert raised is not None and raised.value == pytest.approx(1.6)
    assert calibration.ratio_for(chat_ending_with(), LLAMA).value == pytest.approx(1.6)


def test_a_refusal_that_does_not_say_the_count_is_fitted_again_at_the_largest_ratio() -> None:
    calibration = TokenCalibration()
    budget = Budget(window=2_000, reserve=200)
    assert calibration.refused(LLAMA, TokenRatio(1.1), 1_500, budget, None) == UNMEASURED
    # What the model's next first turns start from is what the refusal showed, no more.
    assert calibration.ratio_for(chat_ending_with(), LLAMA).value == pytest.approx(1_801 / 1_500)


def test_a_refusal_of_exact_counts_or_at_the_largest_ratio_is_not_fitted_again() -> None:
    calibration = TokenCalibration()
    budget = Budget(window=2_000, reserve=200)
    assert calibration.refused(GPT, EXACT, 1_500, budget, 2_400) is None
    assert calibration.refused(LLAMA, UNMEASURED, 1_500, budget, None) is None
    assert calibration.refused(LLAMA, TokenRatio(1.5), 1_500, budget, 1_500) is None


def test_threads_measuring_at_once_lose_no_model() -> None:
    calibration = TokenCalibration(ratios_per_model=1_000)
    models = [replace(LLAMA, name=f"m{i}") for i in range(8)]

    def measure(model: ModelSpec) -> None:
        for _ in range(500):
            calibration.measured(model, 1_000, 1_300)

    threads = [threading.Thread(target=measure, args=(m,)) for m in models]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for model in models:
        assert calibration.ratio_for(chat_ending_with(), model).value == pytest.approx(1.3)
