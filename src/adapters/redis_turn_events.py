"""`RedisTurnEventLog`: the live events of turns in Redis Streams, shared by every replica.

Each turn has two keys, side by side in one hash slot (`{chat_id}` is their hash tag):
- `…:events`, a stream of its events under the explicit entry ids `0-1`, `0-2`, … (so a reader
  resumes with `XREAD … 0-N`, and writing an entry twice is harmless), trimmed with `MAXLEN ~`;
- `…:status`, a hash: the user, the state, the last id written, a cancel flag and, once the turn
  ended, its summary (`EndedTurn`: how it ended, the text, each delta's length).

While the turn runs both keys expire `running_ttl_seconds` after they were last written or
watched, so a turn whose replica died is forgotten when its claim lapses. When it ends, the status
is kept for `retention_seconds` and the stream only `linger_seconds` (for readers between two
reads): later readers replay the summary.

Writes go behind the turn: `delta` appends to a buffer and a task of the turn writes what has
piled up in one script call, so a slow Redis slows no turn. Every write, and a watch of this
process's running turns every `watch_seconds`, also reads the turn's cancel flag: a cancel asked on
any replica reaches the turn within `watch_seconds` (at once while it writes). Readers block in
`XREAD BLOCK` for up to `block_seconds` at a time (less than the pool's reply timeout).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import cast

import coredis
from coredis.exceptions import RedisError
from coredis.response.types import StreamEntry
from coredis.typing import ValueT

from chatservice.application.live_turns import (
    EndedTurn,
    LoggedDelta,
    LoggedEnd,
    LoggedEvent,
    TurnError,
    TurnKey,
    TurnProgress,
    TurnState,
    replay_ended,
)
from chatservice.domain.errors import StorageUnavailable

log = logging.getLogger(__name__)

#: How long `end` waits for the last writes before giving up on an unreachable Redis.
_END_WRITE_SECONDS = 10.0
#: The pauses between attempts to write to a Redis that failed, the last one repeated.
_WRITE_RETRY_PAUSES = (0.05, 0.2, 1.0)
#: Entries one `XREAD` returns at most.
_READ_COUNT = 500

_BEGIN = """
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('HSET', KEYS[1], 'user', ARGV[1], 'state', 'running', 'last', 0)
redis.call('EXPIRE', KEYS[1], ARGV[2])
"""

# KEYS: status, events. ARGV: maxlen, running ttl, entry count, then (id, field, value) per entry,
# then for the end: state, code, message, text, lengths, end id, retention, linger.
# Returns -1 when the turn was forgotten (its status expired), else its cancel flag (0 or 1).
_WRITE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local last = tonumber(redis.call('HGET', KEYS[1], 'last'))
local count = tonumber(ARGV[3])
for i = 0, count - 1 do
  local id = tonumber(ARGV[4 + 3 * i])
  if id > last then
    local field, value = ARGV[5 + 3 * i], ARGV[6 + 3 * i]
    redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], '0-' .. id, field, value)
    last = id
  end
end
redis.call('HSET', KEYS[1], 'last', last)
local e = 4 + 3 * count
if ARGV[e] then
  redis.call('HSET', KEYS[1], 'state', ARGV[e], 'code', ARGV[e + 1], 'message', ARGV[e + 2],
    'text', ARGV[e + 3], 'lengths', ARGV[e + 4], 'end', ARGV[e + 5])
  redis.call('EXPIRE', KEYS[1], ARGV[e + 6])
  redis.call('EXPIRE', KEYS[2], ARGV[e + 7])
else
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  redis.call('EXPIRE', KEYS[2], ARGV[2])
end
return tonumber(redis.call('HGET', KEYS[1], 'cancel') or '0')
"""

# KEYS: status and events of each running turn. ARGV: running ttl. Keeps them alive; returns each
# turn's cancel flag (-1 when forgotten).
_WATCH = """
local flags = {}
for i = 1, #KEYS, 2 do
  if redis.call('EXPIRE', KEYS[i], ARGV[1]) == 1 then
    redis.call('EXPIRE', KEYS[i + 1], ARGV[1])
    flags[#flags + 1] = tonumber(redis.call('HGET', KEYS[i], 'cancel') or '0')
  else
    flags[#flags + 1] = -1
  end
end
return flags
"""

# KEYS: status. ARGV: user. Sets the cancel flag of a running turn of that user; returns its
# state, error code and message as they were (nil for a turn of no such user).
_CANCEL = """
if redis.call('HGET', KEYS[1], 'user') ~= ARGV[1] then return nil end
local fields = redis.call('HMGET', KEYS[1], 'state', 'code', 'message')
if fields[1] == 'running' then redis.call('HSET', KEYS[1], 'cancel', 1) end
return fields
"""


@dataclass(frozen=True)
class _Keys:
    status: str
    events: str


@dataclass(frozen=True)
class _Status:
    progress: TurnProgress
    ended: EndedTurn | None


class RedisTurnEventLog:
    """Turns' live events in the Redis behind `pool`, under `key_prefix`."""

    def __init__(
        self,
        pool: coredis.ConnectionPool,
        key_prefix: str,
        *,
        retention_seconds: float,
        running_ttl_seconds: float,
        block_seconds: float,
        max_events: int = 10_000,
        linger_seconds: float = 60.0,
        watch_seconds: float = 0.5,
    ) -> None:
        self._redis: coredis.Redis[bytes] = coredis.Redis(connection_pool=pool)
        self._prefix = key_prefix
        self._retention = max(1, round(retention_seconds))
        self._running_ttl = max(1, round(running_ttl_seconds))
        self._block_ms = max(1, round(block_seconds * 1000))
        self._max_events = max_events
        self._linger = max(1, round(linger_seconds))
        self._watch_seconds = watch_seconds
        self._begin = self._redis.register_script(_BEGIN)
        self._write_script = self._redis.register_script(_WRITE)
        self._watch_script = self._redis.register_script(_WATCH)
        self._cancel_script = self._redis.register_script(_CANCEL)
        #: This process's running turns, watched for cancellation.
        self._running: dict[TurnKey, _RedisTurn] = {}
        self._watcher: asyncio.Task[None] | None = None
        self._watch_failing = False

    def _keys(self, turn: TurnKey) -> _Keys:
        base = f"{self._prefix}:turn:{{{turn.chat_id}}}:{turn.request_id}"
        return _Keys(f"{base}:status", f"{base}:events")

    async def begin(self, turn: TurnKey, user_id: str) -> _RedisTurn:
        keys = self._keys(turn)
        async with _unavailable_as_domain_error():
            await self._begin(keys=[keys.status, keys.events], args=[user_id, self._running_ttl])
        recorder = _RedisTurn(self, keys, lambda: self._running.pop(turn, None))
        self._running[turn] = recorder
        if self._watcher is None or self._watcher.done():
            self._watcher = asyncio.create_task(self._watch(), name="turn cancel watcher")
        return recorder

    async def progress(self, turn: TurnKey) -> TurnProgress | None:
        status = await self._status(self._keys(turn))
        return None if status is None else status.progress

    async def events(self, turn: TurnKey, after: int) -> AsyncIterator[LoggedEvent]:
        keys = self._keys(turn)
        status = await self._status(keys)
        position = read_from = after
        # Set when the stream was trimmed past what this reader had: it waits for the end and
        # replays the rest from the summary.
        behind = False
        while status is not None:
            if status.ended is not None:
                for event in replay_ended(status.ended, position):
                    yield event
                return
            async with _unavailable_as_domain_error():
                read = await self._redis.xread(
                    {keys.events: f"0-{read_from}"}, count=_READ_COUNT, block=self._block_ms
                )
            entries = read.get(keys.events.encode(), ()) if read else ()
            for entry in entries:
                event = _event(entry)
                read_from = event.id
                behind = behind or event.id > position + 1
                if not behind:
                    position = event.id
                    yield event
                    if isinstance(event, LoggedEnd):
                        return
            if behind or not entries:
                status = await self._status(keys)

    async def cancel(self, turn: TurnKey, user_id: str) -> TurnProgress | None:
        async with _unavailable_as_domain_error():
            fields = await self._cancel_script(keys=[self._keys(turn).status], args=[user_id])
        if not isinstance(fields, list):
            return None
        state, code, message = (_text(value) for value in fields)
        return TurnProgress(user_id, TurnState(state), _error(code, message))

    async def aclose(self) -> None:
        """Stop watching this process's running turns (the pool is its owner's to close)."""
        if self._watcher is not None:
            self._watcher.cancel()

    async def _status(self, keys: _Keys) -> _Status | None:
        async with _unavailable_as_domain_error():
            fields = await self._redis.hgetall(keys.status)
        if not fields:
            return None
        value = {_text(name): _text(raw) for name, raw in fields.items()}
        state = TurnState(value["state"])
        error = _error(value.get("code", ""), value.get("message", ""))
        progress = TurnProgress(value["user"], state, error)
        if state is TurnState.RUNNING:
            return _Status(progress, None)
        lengths = [int(length) for length in value.get("lengths", "").split(",") if length]
        ended = EndedTurn(state, error, int(value["end"]), value.get("text", ""), lengths)
        return _Status(progress, ended)

    async def _write(
        self, keys: _Keys, entries: Sequence[tuple[int, str, str]], ended: EndedTurn | None
    ) -> int:
        """Write `entries` (and the summary of an `ended` turn); the turn's cancel flag, or -1
        when the turn was forgotten."""
        args: list[ValueT] = [self._max_events, self._running_ttl, len(entries)]
        for entry in entries:
            args.extend(entry)
        if ended is not None:
            error = ended.error or TurnError("", "")
            lengths = ",".join(str(length) for length in ended.lengths)
            args.extend([ended.state.value, error.code, error.message, ended.text, lengths])
            args.extend([ended.end_id, self._retention, self._linger])
        flag = await self._write_script(keys=[keys.status, keys.events], args=args)
        return cast(int, flag)  # the script returns an integer

    async def _watch(self) -> None:
        """Keep this process's running turns alive in Redis and tell them of cancel requests,
        every `watch_seconds`, while there are any."""
        while self._running:
            await asyncio.sleep(self._watch_seconds)
            turns = list(self._running.values())
            if not turns:
                return
            keys = tuple(key for turn in turns for key in (turn.keys.status, turn.keys.events))
            try:
                flags = await self._watch_script(keys=keys, args=[self._running_ttl])
            except RedisError as error:
                # Once per outage, not every half second.
                if not self._watch_failing:
                    log.warning("could not watch the running turns in Redis: %s", error)
                self._watch_failing = True
                continue
            if self._watch_failing:
                log.info("watching the running turns in Redis again")
            self._watch_failing = False
            assert isinstance(flags, list)
            for turn, flag in zip(turns, flags, strict=True):
                turn.heard(cast(int, flag))


class _RedisTurn:
    """A running turn's recorder: buffers its events and writes them behind it."""

    def __init__(self, log: RedisTurnEventLog, keys: _Keys, forget: Callable[[], object]) -> None:
        self._log = log
        self.keys = keys
        self._forget = forget
        self._deltas: list[str] = []
        #: Entries not written yet: (id, field, value).
        self._unwritten: list[tuple[int, str, str]] = []
        self._ended: EndedTurn | None = None
        self._more = asyncio.Event()
        self._cancelled = asyncio.Event()
        self._writer = asyncio.create_task(self._write_behind(), name="turn event writer")

    def delta(self, text: str) -> None:
        if self._ended is None:
            self._deltas.append(text)
            self._unwritten.append((len(self._deltas), "d", text))
            self._more.set()

    async def end(self, state: TurnState, error: TurnError | None = None) -> None:
        if self._ended is not None:
            return
        self._ended = ended = EndedTurn.of(state, error, self._deltas)
        outcome = {"state": state.value}
        if error is not None:
            outcome |= {"code": error.code, "message": error.message}
        self._unwritten.append((ended.end_id, "end", json.dumps(outcome)))
        self._more.set()
        try:
            async with asyncio.timeout(_END_WRITE_SECONDS):
                await asyncio.shield(self._writer)
        except TimeoutError:
            log.error("the end of a turn could not be written to Redis; its readers lose it")
            self._writer.cancel()
        finally:
            self._forget()

    async def cancel_requested(self) -> None:
        await self._cancelled.wait()

    def heard(self, flag: int) -> None:
        """What Redis said of the turn: 1, asked to cancel; -1, forgotten."""
        if flag == 1:
            self._cancelled.set()

    async def _write_behind(self) -> None:
        pauses = iter(_WRITE_RETRY_PAUSES)
        pause = next(pauses)
        while True:
            await self._more.wait()
            self._more.clear()
            while self._unwritten:
                batch = list(self._unwritten)
                ending = self._ended if batch[-1][1] == "end" else None
                try:
                    flag = await self._log._write(self.keys, batch, ending)
                except RedisError as error:
                    if pause == _WRITE_RETRY_PAUSES[0]:  # once per outage of this turn
                        log.warning("could not write a turn's events to Redis: %s", error)
                    await asyncio.sleep(pause)
                    pause = next(pauses, pause)
                    continue
                pauses = iter(_WRITE_RETRY_PAUSES)
                pause = next(pauses)
                del self._unwritten[: len(batch)]
                self.heard(flag)
                if flag == -1:
                    log.warning("a running turn was forgotten by Redis; its readers lose it")
                    return
                if ending is not None:
                    return


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else "" if value is None else str(value)


def _error(code: str, message: str) -> TurnError | None:
    return TurnError(code, message) if code else None


def _event(entry: StreamEntry) -> LoggedEvent:
    identifier = _text(entry.identifier)
    event_id = int(identifier.partition("-")[2])
    fields = {_text(name): _text(value) for name, value in entry.field_values.items()}
    if "d" in fields:
        return LoggedDelta(event_id, fields["d"])
    outcome = json.loads(fields["end"])
    error = _error(outcome.get("code", ""), outcome.get("message", ""))
    return LoggedEnd(event_id, TurnState(outcome["state"]), error)


@asynccontextmanager
async def _unavailable_as_domain_error() -> AsyncIterator[None]:
    """Redis failing to answer, as the domain's `StorageUnavailable`."""
    try:
        yield
    except RedisError as error:
        raise StorageUnavailable(f"Redis: {error}") from error
