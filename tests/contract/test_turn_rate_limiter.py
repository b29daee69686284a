"""The `TurnRateLimiter` contract, over the in-process limiter and the Redis one.

Redis runs for real (tests/conftest.py's `redis_url`), under a key prefix of the test's own. The
in-process limiter runs on a clock the test moves; Redis's window runs on the wall clock, so the
tests common to both assert on counts, never on time passing, and what only a moved clock can
show (the window sliding) is the in-process limiter's own test.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from chatservice.adapters.memory_rate_limiter import MemoryTurnRateLimiter
from chatservice.adapters.redis_rate_limiter import RedisTurnRateLimiter
from chatservice.application.rate_limit import LimitStoreUnreachable, TurnRateLimiter
from chatservice.domain.errors import RateLimited
from support.process import free_port
from support.redis import own_key_prefix, redis_pool

#: A limiter with this many turns a minute; those one test makes share one count where the
#: adapter shares at all (the same Redis and key prefix).
MakeLimiter = Callable[[int], TurnRateLimiter]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "redis"])
async def make_limiter(request: pytest.FixtureRequest) -> AsyncIterator[MakeLimiter]:
    if request.param == "memory":
        clock = Clock()
        yield lambda turns_per_minute: MemoryTurnRateLimiter(turns_per_minute, clock)
        return
    redis_url: str = request.getfixturevalue("redis_url")
    async with own_key_prefix() as prefix:
        with redis_pool(redis_url) as pool:
            yield lambda turns_per_minute: RedisTurnRateLimiter(
                redis_url, pool, turns_per_minute, prefix
            )


async def admitted(limiter: TurnRateLimiter, user_id: str, turns: int) -> int:
    """How many of `turns` turns, asked for one after another, were admitted."""
    count = 0
    for _ in range(turns):
        try:
            await limiter.admit(user_id)
        except RateLimited:
            continue
        count += 1
    return count


async def test_a_user_gets_the_limit_then_is_told_to_retry_within_the_minute(
    make_limiter: MakeLimiter,
) -> None:
    limiter = make_limiter(3)
    assert await admitted(limiter, "u1", 3) == 3
    with pytest.raises(RateLimited) as refused:
        await limiter.admit("u1")
    assert refused.value.code == "rate_limited"
    assert 1 <= refused.value.retry_after_seconds <= 60
    assert "at most 3 messages a minute" in str(refused.value)


async def test_users_are_limited_separately(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter(1)
    await limiter.admit("u1")
    await limiter.admit("u2")
    with pytest.raises(RateLimited):
        await limiter.admit("u1")


async def test_zero_means_no_limit(make_limiter: MakeLimiter) -> None:
    assert await admitted(make_limiter(0), "u1", 200) == 200


async def test_turns_asked_for_at_once_never_get_past_the_limit(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter(5)
    outcomes = await asyncio.gather(
        *(limiter.admit("u1") for _ in range(20)), return_exceptions=True
    )
    assert sum(outcome is None for outcome in outcomes) == 5
    assert all(isinstance(o, RateLimited) for o in outcomes if o is not None)


async def test_the_memory_limiter_window_slides_and_its_retry_delay_is_exact() -> None:
    clock = Clock()
    limiter = MemoryTurnRateLimiter(2, clock)
    await limiter.admit("u1")
    clock.now += 10
    await limiter.admit("u1")
    with pytest.raises(RateLimited) as refused:
        await limiter.admit("u1")
    assert refused.value.retry_after_seconds == 50
    clock.now += 50  # the first turn leaves the window; the refused one was never counted
    await limiter.admit("u1")
    with pytest.raises(RateLimited) as refused:
        await limiter.admit("u1")
    assert refused.value.retry_after_seconds == 10


async def test_redis_limiters_on_one_store_share_one_count_as_workers_do(redis_url: str) -> None:
    async with own_key_prefix() as prefix:
        # One pool each, as two processes have.
        with redis_pool(redis_url) as one, redis_pool(redis_url) as other:
            workers = [RedisTurnRateLimiter(redis_url, pool, 4, prefix) for pool in (one, other)]
            assert await admitted(workers[0], "u1", 2) == 2
            assert await admitted(workers[1], "u1", 3) == 2
            assert await admitted(workers[0], "u1", 1) == 0
            assert await admitted(workers[1], "u2", 1) == 1


async def test_an_unreachable_redis_is_reported_as_such_not_as_a_refusal() -> None:
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    with redis_pool(nowhere) as pool:
        limiter = RedisTurnRateLimiter(nowhere, pool, 5, "chatservice-test")
        with pytest.raises(LimitStoreUnreachable, match="Redis"):
            await limiter.admit("u1")
