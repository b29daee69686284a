"""What the service knows about providers, whichever adapter calls them."""

from __future__ import annotations

import pytest

from chatservice.domain.providers import is_anthropic_endpoint, retry_after_seconds


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
