"""When the shared turn limit's store cannot be reached, each process counts on its own."""

from __future__ import annotations

import logging

import pytest

from chatservice.adapters.memory_rate_limiter import MemoryTurnRateLimiter
from chatservice.application.rate_limit import (
    LimitStoreUnreachable,
    LocalWhileSharedUnreachable,
)
from chatservice.domain.errors import RateLimited


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class SharedStore:
    """A shared limiter (a fake of the Redis one) whose store the test takes down and up."""

    def __init__(self, turns_per_minute: int, clock: Clock) -> None:
        self.count = MemoryTurnRateLimiter(turns_per_minute, clock)
        self.reachable = True
        self.asked = 0

    async def admit(self, user_id: str) -> None:
        self.asked += 1
        if not self.reachable:
            raise LimitStoreUnreachable("connection refused")
        await self.count.admit(user_id)


class Failures:
    def __init__(self) -> None:
        self.count = 0

    def store_unreachable(self) -> None:
        self.count += 1


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def shared(clock: Clock) -> SharedStore:
    return SharedStore(2, clock)


@pytest.fixture
def failures() -> Failures:
    return Failures()


@pytest.fixture
def limiter(clock: Clock, shared: SharedStore, failures: Failures) -> LocalWhileSharedUnreachable:
    local = MemoryTurnRateLimiter(3, clock)
    return LocalWhileSharedUnreachable(shared, local, failures, clock, retry_seconds=5)


async def test_the_shared_count_decides_while_its_store_answers(
    limiter: LocalWhileSharedUnreachable, failures: Failures
) -> None:
    await limiter.admit("u1")
    await limiter.admit("u1")
    with pytest.raises(RateLimited):
        await limiter.admit("u1")
    assert failures.count == 0


async def test_an_unreachable_store_lets_turns_through_up_to_the_local_limit_logged_once(
    limiter: LocalWhileSharedUnreachable,
    shared: SharedStore,
    failures: Failures,
    caplog: pytest.LogCaptureFixture,
) -> None:
    shared.reachable = False
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            await limiter.admit("u1")
        with pytest.raises(RateLimited):
            await limiter.admit("u1")
    assert [r.getMessage() for r in caplog.records] == [
        "turn limit counted per process: the shared store failed (connection refused)"
    ]
    assert failures.count == 1


async def test_the_store_is_tried_again_only_after_the_retry_interval(
    limiter: LocalWhileSharedUnreachable,
    shared: SharedStore,
    clock: Clock,
    failures: Failures,
    caplog: pytest.LogCaptureFixture,
) -> None:
    shared.reachable = False
    await limiter.admit("u1")
    shared.reachable = True
    clock.now += 4.9
    await limiter.admit("u2")
    assert shared.asked == 1
    clock.now += 0.1
    with caplog.at_level(logging.INFO):
        await limiter.admit("u3")
    assert shared.asked == 2
    assert "turn limit shared again: its store answers" in caplog.messages
    assert failures.count == 1


async def test_each_failure_after_the_interval_is_reported_again(
    limiter: LocalWhileSharedUnreachable, shared: SharedStore, clock: Clock, failures: Failures
) -> None:
    shared.reachable = False
    await limiter.admit("u1")
    clock.now += 5
    await limiter.admit("u1")
    assert (shared.asked, failures.count) == (2, 2)
