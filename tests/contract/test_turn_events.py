"""The `TurnEventLog` contract, over the in-process log and the Redis Streams one.

Redis runs for real (tests/conftest.py's `redis_url`), under a key prefix of the test's own. A
"replica" is another `RedisTurnEventLog` on the same Redis and prefix, as another process would
have; the in-process log has one replica, itself. Its retention time passes on a clock the test
moves; Redis keeps time on the wall clock, so the test checks that an ended turn's keys expire
within the retention time and then expires them at once, never waiting for a fixed time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import coredis
import pytest

from chatservice.adapters.memory_turn_events import InProcessTurnEventLog
from chatservice.adapters.redis_turn_events import RedisTurnEventLog
from chatservice.application.live_turns import (
    LoggedDelta,
    LoggedEnd,
    LoggedEvent,
    TurnError,
    TurnEventLog,
    TurnKey,
    TurnProgress,
    TurnState,
)
from support.redis import own_key_prefix, redis_pool
from support.waiting import GENEROUS_SECONDS, eventually

USER = "alice"
WORDS = ["Once ", "upon ", "a ", "time, ", "there ", "was ", "a ", "reply."]
FAILURE = TurnError("provider_unavailable", "the model went away")


MakeRedisLog = Callable[..., RedisTurnEventLog]


class MovingClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Backend:
    """Where the logs of one test live: `log` is this replica's; `replica()` another's."""

    log: TurnEventLog
    replica: Callable[[], TurnEventLog]
    #: Let the retention time of `turn`, which has ended, pass.
    forget_ended: Callable[[TurnKey], Awaitable[None]]
    #: A log on the same store that may keep as few as this many events of a running turn.
    with_max_events: Callable[[int], TurnEventLog]


@pytest.fixture(params=["in-process", "redis"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    if request.param == "in-process":
        clock = MovingClock()
        log = InProcessTurnEventLog(retention_seconds=600, clock=clock)

        async def advance(_: TurnKey) -> None:
            clock.now += 601

        yield Backend(log, lambda: log, advance, lambda _: log)
        return
    redis_url: str = request.getfixturevalue("redis_url")
    async with (
        own_key_prefix() as prefix,
        redis_logs(redis_url, prefix, retention_seconds=600, running_ttl_seconds=30) as make,
    ):
        first = make()

        async def forgotten(turn: TurnKey) -> None:
            # Redis keeps time on the wall clock: rather than wait out the retention, check that
            # the ended turn's keys expire within it, then let them expire now.
            client = coredis.Redis.from_url(redis_url)
            try:
                keys = [k async for k in client.scan_iter(match=f"{prefix}:*{turn.request_id}*")]
                assert keys, "the ended turn has keys"
                for turn_key in keys:
                    assert 0 < await client.pttl(turn_key) <= 600_000, turn_key
                    await client.pexpire(turn_key, 1)
            finally:
                client.connection_pool.disconnect()
            await eventually(lambda: _is_none(first.progress(turn)), "the ended turn was forgotten")

        yield Backend(first, make, forgotten, lambda max_events: make(max_events=max_events))


@asynccontextmanager
async def redis_logs(redis_url: str, prefix: str, **options: float) -> AsyncIterator[MakeRedisLog]:
    """Make `RedisTurnEventLog`s as replicas would have them, on one Redis and the test's own key
    `prefix`, each with a pool of its own; all are closed when the block ends."""
    made: list[RedisTurnEventLog] = []
    async with AsyncExitStack() as pools:

        def make(**more: float) -> RedisTurnEventLog:
            pool = pools.enter_context(redis_pool(redis_url))
            settings = {"block_seconds": 0.5, "watch_seconds": 0.1, **options, **more}
            made.append(RedisTurnEventLog(pool, prefix, **settings))  # type: ignore[arg-type]
            return made[-1]

        try:
            yield make
        finally:
            for log in made:
                await log.aclose()


async def _is_none(progress: Awaitable[TurnProgress | None]) -> bool:
    return await progress is None


def key(name: str = "req-1") -> TurnKey:
    return TurnKey("chat-1", name)


async def read(log: TurnEventLog, turn: TurnKey, after: int = 0) -> list[LoggedEvent]:
    async with asyncio.timeout(GENEROUS_SECONDS):
        return [event async for event in log.events(turn, after)]


def text_of(events: list[LoggedEvent]) -> str:
    return "".join(event.text for event in events if isinstance(event, LoggedDelta))


def ids_of(events: list[LoggedEvent]) -> list[int]:
    return [event.id for event in events]


async def test_the_events_are_the_deltas_numbered_from_one_then_the_end(backend: Backend) -> None:
    recorder = await backend.log.begin(key(), USER)
    for word in WORDS:
        recorder.delta(word)
    reader = asyncio.create_task(read(backend.replica(), key()))
    await recorder.end(TurnState.COMPLETED)
    events = await reader
    assert text_of(events) == "".join(WORDS)
    assert ids_of(events) == sorted(set(ids_of(events)))
    assert events[-1] == LoggedEnd(len(WORDS) + 1, TurnState.COMPLETED)


async def test_a_live_reader_gets_each_event_as_it_is_recorded(backend: Backend) -> None:
    recorder = await backend.log.begin(key(), USER)
    events = backend.replica().events(key(), 0)
    async with asyncio.timeout(GENEROUS_SECONDS):
        for number, word in enumerate(WORDS, start=1):
            recorder.delta(word)
            assert await anext(events) == LoggedDelta(number, word)
        await recorder.end(TurnState.COMPLETED)
        assert await anext(events) == LoggedEnd(len(WORDS) + 1, TurnState.COMPLETED)
        with pytest.raises(StopAsyncIteration):
            await anext(events)


async def test_a_reader_resuming_after_event_n_of_a_running_turn_misses_and_repeats_nothing(
    backend: Backend,
) -> None:
    recorder = await backend.log.begin(key(), USER)
    for word in WORDS[:5]:
        recorder.delta(word)
    first = backend.replica().events(key(), 0)
    async with asyncio.timeout(GENEROUS_SECONDS):
        had = [await anext(first) for _ in range(3)]
    await first.aclose()  # the connection drops after event 3
    resumed = backend.replica().events(key(), 3)
    async with asyncio.timeout(GENEROUS_SECONDS):
        rest = [await anext(resumed), await anext(resumed)]  # 4 and 5, recorded before
        for word in WORDS[5:]:
            recorder.delta(word)
            rest.append(await anext(resumed))
        await recorder.end(TurnState.COMPLETED)
        rest.extend([event async for event in resumed])
    assert ids_of(had) + ids_of(rest) == list(range(1, len(WORDS) + 2))
    assert text_of(had) + text_of(rest) == "".join(WORDS)


async def test_an_ended_turn_replays_coalesced_from_any_event_and_adds_up_to_the_reply(
    backend: Backend,
) -> None:
    recorder = await backend.log.begin(key(), USER)
    for word in WORDS:
        recorder.delta(word)
    await recorder.end(TurnState.COMPLETED)
    whole = await read(backend.replica(), key())
    end_id = len(WORDS) + 1
    for after in range(end_id + 2):
        had = "".join(WORDS[:after])
        rest = await read(backend.replica(), key(), after)
        assert had + text_of(rest) == "".join(WORDS)
        assert all(event.id > after for event in rest)
        assert ids_of(rest) == sorted(set(ids_of(rest)))
        if after < end_id:
            assert rest[-1] == whole[-1]


async def test_a_failed_turn_says_why_to_its_readers_and_in_its_progress(backend: Backend) -> None:
    recorder = await backend.log.begin(key(), USER)
    recorder.delta("Half a")
    recorder.delta(" reply")
    assert await backend.replica().progress(key()) == TurnProgress(USER, TurnState.RUNNING)
    await recorder.end(TurnState.FAILED, FAILURE)
    assert await backend.replica().progress(key()) == TurnProgress(USER, TurnState.FAILED, FAILURE)
    assert await read(backend.replica(), key(), after=1) == [
        LoggedEnd(3, TurnState.FAILED, FAILURE)
    ]
    assert await read(backend.replica(), key(), after=3) == []


async def test_a_turn_the_log_does_not_know_has_no_progress_and_no_events(
    backend: Backend,
) -> None:
    assert await backend.log.progress(key("never")) is None
    assert await read(backend.log, key("never")) == []
    assert await backend.log.cancel(key("never"), USER) is None


async def test_a_reader_that_reads_nothing_holds_up_no_turn_and_still_gets_it_all(
    backend: Backend,
) -> None:
    log = backend.with_max_events(50)
    recorder = await log.begin(key(), USER)
    recorder.delta("first ")
    stalled = backend.replica().events(key(), 0)
    async with asyncio.timeout(GENEROUS_SECONDS):
        assert await anext(stalled) == LoggedDelta(1, "first ")
        many = [f"word{n} " for n in range(2000)]
        for word in many:
            recorder.delta(word)
        # The turn ends while its reader reads nothing (far more events than a trimmed
        # stream keeps); the reader then catches up without a gap.
        await recorder.end(TurnState.COMPLETED)
        rest = [event async for event in stalled]
    assert "first " + text_of(rest) == "first " + "".join(many)
    assert rest[-1] == LoggedEnd(len(many) + 2, TurnState.COMPLETED)
    assert ids_of(rest) == sorted(set(ids_of(rest))) and rest[0].id > 1


async def test_a_cancel_asked_on_another_replica_reaches_a_silent_running_turn(
    backend: Backend,
) -> None:
    recorder = await backend.log.begin(key(), USER)
    recorder.delta("thinking")
    asked = await backend.replica().cancel(key(), USER)
    assert asked == TurnProgress(USER, TurnState.RUNNING)
    # The turn writes nothing more: the cancel reaches it all the same, in bounded time.
    async with asyncio.timeout(GENEROUS_SECONDS):
        await recorder.cancel_requested()
    await recorder.end(TurnState.CANCELLED, TurnError("cancelled", "asked to"))
    ended = await backend.replica().progress(key())
    assert ended is not None and ended.state is TurnState.CANCELLED


async def test_only_the_turns_own_user_can_cancel_it_and_only_while_it_runs(
    backend: Backend,
) -> None:
    recorder = await backend.log.begin(key(), USER)
    assert await backend.replica().cancel(key(), "mallory") is None
    await recorder.end(TurnState.COMPLETED)
    ended = await backend.replica().cancel(key(), USER)
    assert ended == TurnProgress(USER, TurnState.COMPLETED)


async def test_a_turn_that_ended_is_forgotten_after_the_retention_time(backend: Backend) -> None:
    recorder = await backend.log.begin(key(), USER)
    recorder.delta("soon gone")
    await recorder.end(TurnState.COMPLETED)
    still_running = await backend.log.begin(key("req-2"), USER)
    assert (await backend.log.progress(key())) is not None
    await backend.forget_ended(key())
    assert await backend.log.progress(key()) is None
    assert await read(backend.replica(), key()) == []
    assert await backend.log.progress(key("req-2")) == TurnProgress(USER, TurnState.RUNNING)
    await still_running.end(TurnState.COMPLETED)


async def test_a_turn_begun_again_under_the_same_key_replaces_the_one_that_failed(
    backend: Backend,
) -> None:
    failed = await backend.log.begin(key(), USER)
    failed.delta("lost")
    await failed.end(TurnState.FAILED, FAILURE)
    retried = await backend.replica().begin(key(), USER)
    assert await backend.log.progress(key()) == TurnProgress(USER, TurnState.RUNNING)
    retried.delta("found")
    await retried.end(TurnState.COMPLETED)
    assert await read(backend.log, key()) == [
        LoggedDelta(1, "found"),
        LoggedEnd(2, TurnState.COMPLETED),
    ]


async def test_redis_forgets_a_running_turn_whose_replica_died(redis_url: str) -> None:
    """Only Redis outlives the replica that runs a turn; the in-process log dies with it."""
    # A few seconds of life: long beside the watcher's tenth of a second, so a busy machine's
    # stalls cannot let the turn lapse while its replica still lives.
    async with (
        own_key_prefix() as prefix,
        redis_logs(redis_url, prefix, retention_seconds=600, running_ttl_seconds=3) as make,
    ):
        dying, surviving = make(), make()
        recorder = await dying.begin(key(), USER)
        recorder.delta("cut short")
        seen: list[LoggedEvent] = []

        async def follow() -> None:
            async for event in surviving.events(key(), 0):
                seen.append(event)

        follower = asyncio.create_task(follow())
        await eventually(lambda: seen == [LoggedDelta(1, "cut short")], "the delta followed")
        await dying.aclose()  # the replica dies: nothing keeps its turn alive any more
        await eventually(
            lambda: _is_none(surviving.progress(key())), "the dead replica's turn forgotten"
        )
        async with asyncio.timeout(GENEROUS_SECONDS):
            await follower
        assert seen == [LoggedDelta(1, "cut short")]  # no end: the turn was lost
