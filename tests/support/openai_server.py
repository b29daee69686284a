"""A local OpenAI-compatible server: real HTTP and real SSE (`data:` lines, `[DONE]`).

It answers `POST /v1/chat/completions` (streaming only) by echoing the last user message, honours
`max_tokens` / `max_completion_tokens`, reports usage with the cookbook formula (as an exact
provider would), records every request it receives, and can be scripted to fail in each way a
provider fails, or hang like a provider that stops answering (held until the server stops, so
the client's own timeouts decide, however slow the machine).

Like a server of some other model family, it may count tokens its own way (`tokenizer`) and
refuse, as OpenAI does, a prompt that leaves less than `max_tokens` of its `context_window`.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from litestar import Litestar, Request, Response, post
from litestar.response import Stream

from chatservice.adapters.fake_gateway import StreamHold
from chatservice.adapters.tiktoken_counter import TiktokenTokenCounter
from chatservice.domain.tokens import message_cost, prompt_cost
from support.process import free_port
from support.serving import serving

COUNTER = TiktokenTokenCounter()
_WORD = re.compile(r"\S+\s*")


def o200k_tokens(text: str) -> int:
    """OpenAI's own count for its newer models: the server is then an exact provider."""
    return COUNTER.count("o200k_base", text)


@dataclass(frozen=True)
class CharacterTokenizer:
    """A tokenizer of the server's own, which no tiktoken encoding reproduces: a token for every
    `characters_per_token` characters of a text, rounded up."""

    characters_per_token: float

    def __call__(self, text: str) -> int:
        return math.ceil(len(text) / self.characters_per_token)


@dataclass
class Behaviour:
    """How the server answers one request.

    `status`: answer with this HTTP error status and `error` body instead of a stream.
    `cut_after` / `malformed_after`: after that many content chunks, drop the connection / send
    a line that is not JSON. `finish`: the finish reason (None: never sent). `usage`: whether the
    usage chunk is sent. `reply`: the text (None: the echo). `stall_before_response`: answer
    nothing at all; `stall_after`: after that many content chunks, send nothing more. A stall
    lasts until the client gives up (or the server stops).
    """

    status: int | None = None
    error: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    cut_after: int | None = None
    malformed_after: int | None = None
    finish: str | None = "stop"
    usage: bool = True
    reply: str | None = None
    stall_before_response: bool = False
    stall_after: int | None = None
    #: The prompt tokens the usage says were read from the cache (`prompt_tokens_details`).
    cached_tokens: int = 0


@dataclass
class Received:
    body: dict[str, Any]
    headers: dict[str, str]
    #: The prompt's tokens as the server counts them (the usage it reports).
    prompt_tokens: int
    #: Whether the server refused the prompt as too long for its window.
    too_long: bool = False


class OpenAICompatibleServer:
    def __init__(
        self,
        tokenizer: Callable[[str], int] = o200k_tokens,
        context_window: int | None = None,
        chunk_words: int = 1,
    ) -> None:
        """`tokenizer` counts a text's tokens (the cookbook formula adds the rest); with a
        `context_window`, a prompt and `max_tokens` over it are refused with
        `context_length_exceeded`. Each content chunk carries `chunk_words` words."""
        self.tokenizer = tokenizer
        self.context_window = context_window
        self.chunk_words = chunk_words
        self.received: list[Received] = []
        self.script: deque[Behaviour] = deque()
        self.default = Behaviour()
        #: Streams the client went away from before their end.
        self.abandoned = 0
        self.port = free_port()
        self._hold: StreamHold | None = None
        self._stopping = asyncio.Event()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def then(self, *behaviours: Behaviour) -> None:
        """Answer the coming requests with these behaviours, then go back to the default."""
        self.script.extend(behaviours)

    def hold(self, after_chunks: int) -> StreamHold:
        """Stop every stream once it has sent `after_chunks` content chunks, until the returned
        hold moves or is released (as `FakeChatGateway.hold` does for the fake model)."""
        if self._hold is not None:
            self._hold.release()
        self._hold = StreamHold(after_chunks)
        return self._hold

    def stop(self) -> None:
        """End the stalls and holds: the server is going away."""
        self._stopping.set()
        if self._hold is not None:
            self._hold.release()

    def app(self) -> Litestar:
        @post("/v1/chat/completions", status_code=200)
        async def completions(request: Request[Any, Any, Any]) -> Response[Any]:
            body = await request.json()
            received = Received(body, dict(request.headers), self.prompt_tokens(body["messages"]))
            self.received.append(received)
            if (refusal := self._refusal(received)) is not None:
                return refusal
            behaviour = self.script.popleft() if self.script else self.default
            if behaviour.stall_before_response:
                await self._stopping.wait()
            if behaviour.status is not None:
                return Response(
                    {"error": behaviour.error or {"message": "scripted failure", "code": None}},
                    status_code=behaviour.status,
                    headers=behaviour.headers,
                )
            return Stream(self._events(body, behaviour), media_type="text/event-stream")

        return Litestar([completions], logging_config=None)

    def prompt_tokens(self, messages: list[dict[str, str]]) -> int:
        """A prompt's tokens as this server counts them: the cookbook formula over its own
        tokenizer."""
        return prompt_cost(
            message_cost(self.tokenizer, m["role"], m["content"], m.get("name")) for m in messages
        )

    def _refusal(self, received: Received) -> Response[Any] | None:
        """OpenAI's answer to a prompt that leaves less than `max_tokens` of the window."""
        reply_tokens = _reply_limit(received.body)
        if self.context_window is None or received.prompt_tokens + reply_tokens <= (
            self.context_window
        ):
            return None
        received.too_long = True
        message = (
            f"This model's maximum context length is {self.context_window} tokens. However, you "
            f"requested {received.prompt_tokens + reply_tokens} tokens "
            f"({received.prompt_tokens} in the messages, {reply_tokens} in the completion). "
            "Please reduce the length of the messages or completion."
        )
        error = {
            "message": message,
            "type": "invalid_request_error",
            "param": "messages",
            "code": "context_length_exceeded",
        }
        return Response({"error": error}, status_code=400)

    async def _events(self, body: dict[str, Any], behaviour: Behaviour) -> AsyncIterator[bytes]:
        messages = body["messages"]
        limit = _reply_limit(body)
        last_user = next(m["content"] for m in reversed(messages) if m["role"] == "user")
        text = behaviour.reply if behaviour.reply is not None else f"Echo: {last_user}"
        words, finish = [], behaviour.finish
        for word in _WORD.findall(text):
            if self.tokenizer("".join([*words, word])) > limit:
                finish = "length" if finish else None
                break
            words.append(word)

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
            payload = {
                "id": "chatcmpl-local",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": body["model"],
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
            }
            return f"data: {json.dumps(payload)}\n\n".encode()

        try:
            yield chunk({"role": "assistant", "content": ""})
            pieces = [
                "".join(words[i : i + self.chunk_words])
                for i in range(0, len(words), self.chunk_words)
            ]
            for index, piece in enumerate(pieces):
                if self._hold is not None:
                    await self._hold.wait_if_held(index)
                if behaviour.cut_after == index:
                    raise ConnectionAbortedError("scripted cut")
                if behaviour.malformed_after == index:
                    yield b"data: {this is not json\n\n"
                if behaviour.stall_after == index:
                    await self._stopping.wait()
                    return
                yield chunk({"content": piece})
            if finish is not None:
                yield chunk({}, finish)
            if behaviour.usage and body.get("stream_options", {}).get("include_usage"):
                prompt = self.prompt_tokens(messages)
                completion = self.tokenizer("".join(words))
                usage = {
                    "prompt_tokens": prompt,
                    "completion_tokens": completion,
                    "total_tokens": prompt + completion,
                }
                if behaviour.cached_tokens:
                    usage["prompt_tokens_details"] = {"cached_tokens": behaviour.cached_tokens}
                payload = {
                    "id": "chatcmpl-local",
                    "object": "chat.completion.chunk",
                    "created": 0,
                    "model": body["model"],
                    "choices": [],
                    "usage": usage,
                }
                yield f"data: {json.dumps(payload)}\n\n".encode()
            yield b"data: [DONE]\n\n"
        except asyncio.CancelledError:
            self.abandoned += 1
            raise


def _reply_limit(body: dict[str, Any]) -> int:
    limit: int = body.get("max_completion_tokens") or body.get("max_tokens") or 10**6
    return limit


@asynccontextmanager
async def running_openai_server(
    tokenizer: Callable[[str], int] = o200k_tokens,
    context_window: int | None = None,
    chunk_words: int = 1,
) -> AsyncIterator[OpenAICompatibleServer]:
    server = OpenAICompatibleServer(tokenizer, context_window, chunk_words)
    async with serving(server.app(), server.port, log_level="critical"):
        try:
            yield server
        finally:
            server.stop()
