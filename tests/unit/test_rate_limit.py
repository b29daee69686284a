import pytest

from chatservice.application.rate_limit import TurnRateLimiter
from chatservice.domain.errors import RateLimited


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_user_gets_the_limit_per_sliding_minute_and_is_told_when_to_retry() -> None:
    clock = Clock()
    limiter = TurnRateLimiter(2, clock)
    limiter.admit("u1")
    clock.now += 10
    limiter.admit("u1")
    with pytest.raises(RateLimited) as refused:
        limiter.admit("u1")
    assert refused.value.retry_after_seconds == 50
    clock.now += 50
    limiter.admit("u1")


def test_users_are_limited_separately() -> None:
    limiter = TurnRateLimiter(1, Clock())
    limiter.admit("u1")
    limiter.admit("u2")
    with pytest.raises(RateLimited):
        limiter.admit("u1")


def test_zero_means_no_limit() -> None:
    limiter = TurnRateLimiter(0, Clock())
    for _ in range(1000):
        limiter.admit("u1")
