"""What the service knows about providers, whichever adapter calls them."""

from __future__ import annotations

import pytest

from chatservice.domain.providers import (
    CONTEXT_OVERFLOW,
    is_anthropic_endpoint,
    refused_prompt_tokens,
    retry_after_seconds,
)


@pytest.mark.parametrize(("header", "seconds"), [("7", 7.0), ("0.5", 0.5), ("0", 0.0)])
def test_a_retry_after_in_seconds_is_the_delay(header: str, seconds: float) -> None:
    assert retry_after_seconds(header) == seconds


@pytest.mark.parametrize("header", [None, "", "inf", "nan", "-5", "Wed, 21 Oct 2015 07:28:00 GMT"])
def test_a_retry_after_that_is_no_delay_in_seconds_is_none(header: str | None) -> None:
    assert retry_after_seconds(header) is None


def test_only_anthropics_own_endpoint_is_anthropics() -> None:
    assert is_anthropic_endpoint("https://api.anthropic.com")
    assert not is_anthropic_endpoint("http://127.0.0.1:8000")
    assert not is_anthropic_endpoint("https://llm-proxy.example.com/anthropic")


@pytest.mark.parametrize(
    ("message", "tokens"),
    [
        (
            "This model's maximum context length is 8192 tokens. However, you requested 9000 "
            "tokens (8800 in the messages, 200 in the completion). Please reduce the length of "
            "the messages or completion.",
            8800,
        ),
        (
            "This model's maximum context length is 4097 tokens. However, your messages resulted "
            "in 5000 tokens. Please reduce the length of the messages.",
            5000,
        ),
        (
            "This model's maximum context length is 8192 tokens. However, your request has 9000 "
            "input tokens. Please reduce the length of the input messages.",
            9000,
        ),
        (
            "'max_tokens' or 'max_completion_tokens' is too large: 16384. This model's maximum "
            "context length is 65536 tokens and your request has 53947 input tokens "
            "(16384 > 65536 - 53947).",
            53947,
        ),
        (
            "This model's maximum context length is 131072 tokens. However, you requested 4096 "
            "output tokens and your prompt contains at least 126977 input tokens. Please reduce "
            "the length of the input prompt.",
            126977,
        ),
        (
            "This endpoint's maximum context length is 8192 tokens. However, you requested about "
            "12000 tokens (10000 of text input, 2000 in the output).",
            10000,
        ),
        ("prompt is too long: 208656 tokens > 200000 maximum", 208656),
        (
            "input length and `max_tokens` exceed context limit: 197626 + 8192 > 200000, "
            "decrease input length or `max_tokens` and try again",
            197626,
        ),
    ],
    ids=[
        "openai-vllm",
        "openai-before",
        "vllm-input",
        "vllm-input-and-reply",
        "vllm-at-least",
        "openrouter",
        "anthropic",
        "anthropic-with-reserve",
    ],
)
def test_a_refusal_as_too_long_says_what_the_provider_counted(message: str, tokens: int) -> None:
    assert CONTEXT_OVERFLOW.search(message)
    assert refused_prompt_tokens(message) == tokens


def test_a_refusal_that_gives_no_count_gives_none() -> None:
    assert refused_prompt_tokens("the conversation is too long") is None
