"""`FakeChatGateway`: a deterministic, offline model for running and testing without a provider.

Tests steer it through public controls only: `chunk_delay_seconds`, `fail_next` and `hold`, and
read what it saw in `requests` and `abandoned`.
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from collections.abc import AsyncGenerator
from dataclasses import dataclass

from chatservice.application.ports import (
    CompletionEnd,
    CompletionRequest,
    TextDelta,
    TokenCounter,
)
from chatservice.application.summaries import (
    MESSAGES_TO_FOLD,
    NO_SUMMARY_YET,
    SUMMARY_INSTRUCTIONS,
    SUMMARY_SO_FAR,
)
from chatservice.domain.chat import Role, Usage
from chatservice.domain.tokens import prompt_cost

_QUOTE_CHARS = 200
_REMEMBERED_MESSAGES = 10_000
_WORD = re.compile(r"\S+\s*")
#: A user message as a summary call lists it (`summaries.message_line`).
_FOLDED_QUESTION = re.compile(r"^\[message (\d+), user\] (.*)$", re.MULTILINE)
_SUMMARY_QUOTE_CHARS = 40


@dataclass(frozen=True)
class ScriptedFailure:
    """Make a coming call fail after `after_chunks` chunks: raise `error`, or with `error=None`
    stop the stream without a finish reason."""

    error: Exception | None
    after_chunks: int = 0


class StreamHold:
    """A point in the fake's streams where they stop until the test lets them on.

    Every stream that has sent exactly `after_chunks` chunks (0: none yet) waits there; a stream
    already past that point is not stopped. `await reached()` waits until a stream is waiting
    (the model is "mid-reply": its claim is taken, its first chunks are out). `move_to(n)` lets
    the waiting streams on to stop again after `n` chunks; `release()` lets every stream run to
    its end and stops no later one.
    """

    def __init__(self, after_chunks: int) -> None:
        self._after = after_chunks
        self._released = False
        #: Set when the hold moves or is released; replaced by a fresh one on every move.
        self._moved = asyncio.Event()
        #: Streams waiting at the current point (reset when it moves).
        self._waiting = 0
        self._arrival = asyncio.Event()

    async def reached(self, streams: int = 1, within: float = 30.0) -> None:
        """Return once `streams` streams are waiting at the hold; `TimeoutError` after `within`
        seconds (generous: only a stream that never comes takes that long)."""
        async with asyncio.timeout(within):
            while self._waiting < streams:
                self._arrival.clear()
                await self._arrival.wait()

    @property
    def waiting(self) -> int:
        """How many streams are waiting at the hold now."""
        return self._waiting

    def move_to(self, after_chunks: int) -> None:
        """Let the waiting streams on, to stop again once they have sent `after_chunks`."""
        self._after = after_chunks
        self._let_on()

    def release(self) -> None:
        """Let every stream run to its end; the hold stops none from now on."""
        self._released = True
        self._let_on()

    def _let_on(self) -> None:
        self._waiting = 0
        self._moved.set()
        self._moved = asyncio.Event()

    async def wait_if_held(self, sent: int) -> None:
        """Called by a stream that has sent `sent` chunks: wait while the hold is there."""
        while not self._released and sent == self._after:
            moved = self._moved
            self._waiting += 1
            self._arrival.set()
            try:
                await moved.wait()
            except BaseException:
                if moved is self._moved:  # still counted: this stream leaves while held
                    self._waiting -= 1
                raise


def _quote(text: str, chars: int) -> str:
    quote = " ".join(text.split())
    return quote if len(quote) <= chars else quote[:chars] + "…"


def _summary(request_text: str) -> str:
    """The fake's summary: the summary so far, then a line naming each exchange folded in (by
    its user message's position, and the start of its text)."""
    so_far, _, folded = request_text.removeprefix(SUMMARY_SO_FAR).partition(MESSAGES_TO_FOLD)
    lines = [] if so_far.strip() == NO_SUMMARY_YET else [so_far.strip()]
    lines += [
        f"- exchange at message {position}: {_quote(text, _SUMMARY_QUOTE_CHARS)}"
        for position, text in _FOLDED_QUESTION.findall(folded)
    ]
    return "\n".join(lines) or "Nothing of note yet."


class FakeChatGateway:
    """The reply is a pure function of the prompt: it quotes the last user message and says how
    many messages and prompt tokens it received; asked for a summary (`SUMMARY_INSTRUCTIONS`),
    it keeps the summary so far and names each exchange it folds in. It streams word-sized
    chunks, is cut with `finish_reason="length"` at the request's `max_completion_tokens`, and
    reports usage from the real token counter.

    Controls, for a slow model in a demo and for tests that must not depend on timing:
    `chunk_delay_seconds` (a pause before each chunk, the `fake_chunk_delay_ms` setting; may be
    changed at any time), `fail_next` (script a failure of a coming call) and `hold` (stop every
    stream after a number of chunks until released).
    """

    def __init__(self, counter: TokenCounter, *, chunk_delay_seconds: float) -> None:
        self._counter = counter
        #: The pause before each chunk.
        self.chunk_delay_seconds = chunk_delay_seconds
        self._failures: deque[ScriptedFailure] = deque()
        self._hold: StreamHold | None = None
        #: The latest requests, newest last (bounded: the fake also serves as the default model).
        self.requests: deque[CompletionRequest] = deque(maxlen=100)
        self._costs: dict[tuple[str, str, str], int] = {}
        #: How many streams their consumer closed (or cancelled) before the end.
        self.abandoned = 0

    def fail_next(self, failure: ScriptedFailure) -> None:
        """Make the next call that starts fail as `failure` says (queued, one per call)."""
        self._failures.append(failure)

    def hold(self, after_chunks: int) -> StreamHold:
        """Stop every stream, running or to come, once it has sent `after_chunks` chunks, until
        the returned hold moves or is released. A hold placed earlier is released first.

        A failure scripted for the same point comes after the hold: hold, then fail."""
        if self._hold is not None:
            self._hold.release()
        self._hold = StreamHold(after_chunks)
        return self._hold

    def reply_for(self, request: CompletionRequest) -> tuple[str, Usage, str]:
        """The reply text, usage and finish reason this request gets."""
        encoding = request.model.encoding
        prompt_tokens = prompt_cost(
            self._cost(encoding, m.role, m.content) for m in request.messages
        )
        last_user = next(m.content for m in reversed(request.messages) if m.role == Role.USER)
        if request.messages[0].content == SUMMARY_INSTRUCTIONS:
            text = _summary(last_user)
        else:
            text = (
                f'You said: "{_quote(last_user, _QUOTE_CHARS)}". I received '
                f"{len(request.messages)} messages and {prompt_tokens} prompt tokens."
            )
        text, finish_reason = self._cut(encoding, text, request.params.max_completion_tokens)
        return text, Usage(prompt_tokens, self._counter.count(encoding, text)), finish_reason

    def _cost(self, encoding: str, role: str, content: str) -> int:
        # A chat's history comes back every turn: count each message once, as a provider's
        # own tokenizer would not cost us anything. Bounded, oldest forgotten first.
        key = (encoding, role, content)
        cost = self._costs.pop(key, None)
        if cost is None:
            cost = self._counter.message_cost(encoding, role, content)
        self._costs[key] = cost
        if len(self._costs) > _REMEMBERED_MESSAGES:
            del self._costs[next(iter(self._costs))]
        return cost

    def _cut(self, encoding: str, text: str, limit: int) -> tuple[str, str]:
        if self._counter.count(encoding, text) <= limit:
            return text, "stop"
        kept = ""
        for word in _WORD.findall(text):
            if self._counter.count(encoding, kept + word) > limit:
                break
            kept += word
        return kept, "length"

    async def stream(
        self, request: CompletionRequest
    ) -> AsyncGenerator[TextDelta | CompletionEnd, None]:
        self.requests.append(request)
        failure = self._failures.popleft() if self._failures else None
        text, usage, finish_reason = self.reply_for(request)
        words = _WORD.findall(text)
        try:
            for sent in range(len(words) + 1):
                if self._hold is not None:
                    await self._hold.wait_if_held(sent)
                if failure is not None and sent == failure.after_chunks:
                    if failure.error is None:
                        return
                    raise failure.error
                if sent == len(words):
                    break
                if self.chunk_delay_seconds:
                    await asyncio.sleep(self.chunk_delay_seconds)
                yield TextDelta(words[sent])
            yield CompletionEnd(finish_reason, usage)
        except (GeneratorExit, asyncio.CancelledError):
            self.abandoned += 1
            raise
