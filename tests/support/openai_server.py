"""A local OpenAI-compatible server: real HTTP and real SSE (`data:` lines, `[DONE]`).

It answers `POST /v1/chat/completions` (streaming only) by echoing the last user message, honours
`max_tokens` / `max_completion_tokens`, reports usage with the cookbook formula (as an exact
provider would), records every request it receives, and can be scripted to fail in each way a
provider fails, or hang like a provider that stops answering (held until the server stops, so
the client's own timeouts decide, however slow the machine).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from litestar import Litestar, Request, Response, post
from litestar.response import Stream

from chatservice.adapters.fake_gateway import StreamHold
from chatservice.adapters.tiktoken_counter import TiktokenTokenCounter
from chatservice.domain.tokens import prompt_cost
from support.process import free_port
from support.serving import serving

COUNTER = TiktokenTokenCounter()
_WORD = re.compile(r"\S+\s*")


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


@dataclass
class Received:
    body: dict[str, Any]
    headers: dict[str, str]


class OpenAICompatibleServer:
    def __init__(self) -> None:
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
            self.received.append(Received(body, dict(request.headers)))
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

    async def _events(self, body: dict[str, Any], behaviour: Behaviour) -> AsyncIterator[bytes]:
        messages = body["messages"]
        limit = body.get("max_completion_tokens") or body.get("max_tokens") or 10**6
        last_user = next(m["content"] for m in reversed(messages) if m["role"] == "user")
        text = behaviour.reply if behaviour.reply is not None else f"Echo: {last_user}"
        words, finish = [], behaviour.finish
        for word in _WORD.findall(text):
            if COUNTER.count("o200k_base", "".join([*words, word])) > limit:
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
            for index, word in enumerate(words):
                if self._hold is not None:
                    await self._hold.wait_if_held(index)
                if behaviour.cut_after == index:
                    raise ConnectionAbortedError("scripted cut")
                if behaviour.malformed_after == index:
                    yield b"data: {this is not json\n\n"
                if behaviour.stall_after == index:
                    await self._stopping.wait()
                    return
                yield chunk({"content": word})
            if finish is not None:
                yield chunk({}, finish)
            if behaviour.usage and body.get("stream_options", {}).get("include_usage"):
                prompt = prompt_cost(
                    COUNTER.message_cost("o200k_base", m["role"], m["content"]) for m in messages
                )
                completion = COUNTER.count("o200k_base", "".join(words))
                usage = {
                    "prompt_tokens": prompt,
                    "completion_tokens": completion,
                    "total_tokens": prompt + completion,
                }
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


@asynccontextmanager
async def running_openai_server() -> AsyncIterator[OpenAICompatibleServer]:
    server = OpenAICompatibleServer()
    async with serving(server.app(), server.port, log_level="critical"):
        try:
            yield server
        finally:
            server.stop()
