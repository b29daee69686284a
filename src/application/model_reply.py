"""A model's reply as a turn reads it: started up to its first text, then streamed, then whole."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from chatservice.application.ports import CompletionEnd, TextDelta
from chatservice.domain.errors import ProviderUnavailable


class ModelReply:
    """The model's reply as it streams: started (`start`, up to its first text), iterated (its
    text piece by piece, the first included), then `whole()`. Leaving its `async with`, or
    `aclose`, closes the model's stream at once, however the block ends."""

    def __init__(self, stream: AsyncGenerator[TextDelta | CompletionEnd, None]) -> None:
        self._stream = stream
        self._parts: list[str] = []
        self._end: CompletionEnd | None = None
        self._first: str | None = None

    async def start(self) -> None:
        """Wait for the reply's first text: whatever fails before it fails here, a stream that
        ends without any text included."""
        self._first = await self._next_text()
        if self._first is None:
            self._raise_unless_complete()

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def __aenter__(self) -> ModelReply:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __aiter__(self) -> ModelReply:
        return self

    async def __anext__(self) -> str:
        text, self._first = self._first, None
        if text is None and (text := await self._next_text()) is None:
            raise StopAsyncIteration
        return text

    async def _next_text(self) -> str | None:
        while (event := await anext(self._stream, None)) is not None:
            if isinstance(event, CompletionEnd):
                self._end = event
            elif event.text:
                self._parts.append(event.text)
                return event.text
        return None

    def whole(self) -> tuple[str, CompletionEnd]:
        """The reply's text and how it ended; `ProviderUnavailable` for a stream that ended
        without a finish reason or without any text."""
        self._raise_unless_complete()
        assert self._end is not None
        return "".join(self._parts), self._end

    def _raise_unless_complete(self) -> None:
        if self._end is None:
            raise ProviderUnavailable("the model's stream ended without a finish reason")
        if not self._parts:
            raise ProviderUnavailable("the model returned an empty reply")
