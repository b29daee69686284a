"""`FakeChatGateway`: a deterministic, offline model for running and testing without a provider."""

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
from chatservice.domain.chat import Role, Usage
from chatservice.domain.tokens import prompt_cost

_QUOTE_CHARS = 200
_REMEMBERED_MESSAGES = 10_000
_WORD = re.compile(r"\S+\s*")


@dataclass(frozen=True)
class ScriptedFailure:
    """Make a coming call fail after `after_chunks` chunks: raise `error`, or with `error=None`
    stop the stream without a finish reason."""

    error: Exception | None
    after_chunks: int = 0


class FakeChatGateway:
    """The reply is a pure function of the prompt: it quotes the last user message and says how
    many messages and prompt tokens it received. It streams word-sized chunks, is cut with
    `finish_reason="length"` at the request's `max_completion_tokens`, and reports usage from the
    real token counter."""

    def __init__(self, counter: TokenCounter, chunk_delay_seconds: float = 0.0) -> None:
        self._counter = counter
        self._chunk_delay = chunk_delay_seconds
        self._failures: deque[ScriptedFailure] = deque()
        #: The latest requests, newest last (bounded: the fake also serves as the default model).
        self.requests: deque[CompletionRequest] = deque(maxlen=100)
        self._costs: dict[tuple[str, str, str], int] = {}
        #: How many streams their consumer closed (or cancelled) before the end.
        self.abandoned = 0

    def fail_next(self, failure: ScriptedFailure) -> None:
        self._failures.append(failure)

    def reply_for(self, request: CompletionRequest) -> tuple[str, Usage, str]:
        """The reply text, usage and finish reason this request gets."""
        encoding = request.model.encoding
        prompt_tokens = prompt_cost(
            self._cost(encoding, m.role, m.content) for m in request.messages
        )
        last_user = next(m.content for m in reversed(request.messages) if m.role == Role.USER)
        quote = " ".join(last_user.split())
        if len(quote) > _QUOTE_CHARS:
            quote = quote[:_QUOTE_CHARS] + "…"
        text = (
            f'You said: "{quote}". I received {len(request.messages)} messages and '
            f"{prompt_tokens} prompt tokens."
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
        try:
            for index, word in enumerate(_WORD.findall(text)):
                if failure is not None and index == failure.after_chunks:
                    if failure.error is None:
                        return
                    raise failure.error
                if self._chunk_delay:
                    await asyncio.sleep(self._chunk_delay)
                yield TextDelta(word)
            yield CompletionEnd(finish_reason, usage)
        except (GeneratorExit, asyncio.CancelledError):
            self.abandoned += 1
            raise
