"""A local Anthropic Messages API server: real HTTP, real SSE, Anthropic's event protocol.

It answers `POST /v1/messages` (streaming only) by echoing the last user message, as Anthropic
streams a reply: `message_start` (with the prompt's usage), a `ping`, `content_block_start`,
`content_block_delta`s, `content_block_stop`, `message_delta` (the stop reason, cumulative output
tokens), `message_stop`. It honours `max_tokens` and `stop_sequences`, counts tokens with the
cookbook formula (as an exact provider would; the system text costs as a system message), records
every request, and can be scripted to fail in each way Anthropic fails: an error status before the
stream, an `error` event inside a stream that began with HTTP 200, a cut or malformed stream, a
stream that never says why it stopped, or a provider that stops answering (stalled until the test
lets it go on, or the server stops, so the client's own timeouts decide however slow the machine).
Its streams can also be held mid-reply (`hold`, as the fake model's), sending only `ping`s
meanwhile, as Anthropic does while a reply is slow to come.
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
ENCODING = "o200k_base"
_WORD = re.compile(r"\S+\s*")
#: How often a held stream sends a `ping`: well within any idle timeout a test sets.
PING_SECONDS = 0.05

#: The error type Anthropic names in the body of each error status.
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}


@dataclass
class Behaviour:
    """How the server answers one request.

    `status`: answer with this HTTP error status instead of a stream, with an error body of
    `error_type` (by default the status's own) and `error_message`, and `headers`.
    `error_after`: after that many text deltas, send an `error` event of `error_type` (by default
    `overloaded_error`) and end the stream. `cut_after` / `malformed_after`: after that many text
    deltas, drop the connection / send a `data:` line that is not JSON. `stall_after`: after that
    many text deltas (0: before the response itself), send nothing more until the stalls are
    released or the server stops.
    `reply`: the text (None: the echo). `thinking`: a thinking block sent before the text.
    `stop_reason`: the stop reason (None: no `message_delta` says one); `max_tokens` and stop
    sequences override it as Anthropic's would. `message_stop`: whether the stream ends with it.
    `interim_usage`: also send a `message_delta` without a stop reason halfway, with the output
    tokens so far (counts are cumulative). `pings`: a `ping` before every text delta too.
    `cache_read` / `cache_creation`: how many of the prompt's tokens to report as read from /
    written to the cache; the rest are `input_tokens`.
    """

    status: int | None = None
    error_type: str | None = None
    error_message: str = "scripted failure"
    headers: dict[str, str] = field(default_factory=dict)
    error_after: int | None = None
    cut_after: int | None = None
    malformed_after: int | None = None
    stall_after: int | None = None
    reply: str | None = None
    thinking: str | None = None
    stop_reason: str | None = "end_turn"
    message_stop: bool = True
    interim_usage: bool = False
    pings: bool = False
    cache_read: int = 0
    cache_creation: int = 0


@dataclass
class Received:
    body: dict[str, Any]
    headers: dict[str, str]


def event(name: str, payload: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps({'type': name, **payload})}\n\n".encode()


def prompt_tokens(body: dict[str, Any]) -> int:
    """The prompt's tokens, counted as an exact provider would: the cookbook formula over the
    system text (as a system message) and the turns."""
    system = [("system", body["system"])] if body.get("system") else []
    turns = [(m["role"], m["content"]) for m in body["messages"]]
    return prompt_cost(COUNTER.message_cost(ENCODING, role, text) for role, text in system + turns)


class AnthropicMessagesServer:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.script: deque[Behaviour] = deque()
        self.default = Behaviour()
        #: Streams the client went away from before their end.
        self.abandoned = 0
        #: Set each time a client goes away from a stream before its end.
        self.a_stream_was_abandoned = asyncio.Event()
        #: Set each time a request reaches a stall.
        self.a_request_stalled = asyncio.Event()
        self._stalls_released = asyncio.Event()
        self._hold: StreamHold | None = None
        self.port = free_port()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def then(self, *behaviours: Behaviour) -> None:
        """Answer the coming requests with these behaviours, then go back to the default."""
        self.script.extend(behaviours)

    def release_stalls(self) -> None:
        """Let every stalled request, and every one to come, go on."""
        self._stalls_released.set()

    def hold(self, after_chunks: int) -> StreamHold:
        """Stop every stream once it has sent `after_chunks` text deltas, pinging, until the
        returned hold moves or is released (as `FakeChatGateway.hold` does for the fake model)."""
        if self._hold is not None:
            self._hold.release()
        self._hold = StreamHold(after_chunks)
        return self._hold

    def stop(self) -> None:
        """End the stalls and holds: the server is going away."""
        self.release_stalls()
        if self._hold is not None:
            self._hold.release()

    async def _stall(self) -> None:
        self.a_request_stalled.set()
        await self._stalls_released.wait()

    async def _pings_while_held(self, sent: int) -> AsyncIterator[bytes]:
        if self._hold is None:
            return
        held = asyncio.ensure_future(self._hold.wait_if_held(sent))
        try:
            while not held.done():
                await asyncio.wait({held}, timeout=PING_SECONDS)
                if not held.done():
                    yield event("ping", {})
        finally:
            held.cancel()

    def app(self) -> Litestar:
        @post("/v1/messages", status_code=200)
        async def messages(request: Request[Any, Any, Any]) -> Response[Any]:
            body = await request.json()
            self.received.append(Received(body, dict(request.headers)))
            behaviour = self.script.popleft() if self.script else self.default
            if behaviour.stall_after == 0:
                await self._stall()
            if behaviour.status is not None:
                error_type = behaviour.error_type or ERROR_TYPES.get(behaviour.status, "api_error")
                return Response(
                    {
                        "type": "error",
                        "error": {"type": error_type, "message": behaviour.error_message},
                        "request_id": "req_local",
                    },
                    status_code=behaviour.status,
                    headers={"request-id": "req_local", **behaviour.headers},
                )
            return Stream(self._events(body, behaviour), media_type="text/event-stream")

        return Litestar([messages], logging_config=None)

    async def _events(self, body: dict[str, Any], behaviour: Behaviour) -> AsyncIterator[bytes]:
        last_user = next(m["content"] for m in reversed(body["messages"]) if m["role"] == "user")
        text = behaviour.reply if behaviour.reply is not None else f"Echo: {last_user}"
        stop_reason, stop_sequence = behaviour.stop_reason, None
        for sequence in body.get("stop_sequences", []):
            if sequence in text:
                text, stop_reason, stop_sequence = (
                    text[: text.index(sequence)],
                    "stop_sequence",
                    sequence,
                )
        words: list[str] = []
        for word in _WORD.findall(text):
            if COUNTER.count(ENCODING, "".join([*words, word])) > body["max_tokens"]:
                stop_reason, stop_sequence = "max_tokens", None
                break
            words.append(word)
        thinking_tokens = COUNTER.count(ENCODING, behaviour.thinking or "")

        def output_tokens(sent: int) -> int:
            return thinking_tokens + COUNTER.count(ENCODING, "".join(words[:sent]))

        prompt = prompt_tokens(body)
        usage = {
            "input_tokens": prompt - behaviour.cache_read - behaviour.cache_creation,
            "cache_creation_input_tokens": behaviour.cache_creation,
            "cache_read_input_tokens": behaviour.cache_read,
            # Anthropic's message_start already counts the first output token.
            "output_tokens": 1,
        }
        message = {
            "id": "msg_local",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage,
        }
        try:
            yield event("message_start", {"message": message})
            yield event("ping", {})
            index = 0
            if behaviour.thinking is not None:
                yield event(
                    "content_block_start",
                    {
                        "index": 0,
                        "content_block": {"type": "thinking", "thinking": "", "signature": ""},
                    },
                )
                for part in _WORD.findall(behaviour.thinking):
                    delta = {"type": "thinking_delta", "thinking": part}
                    yield event("content_block_delta", {"index": 0, "delta": delta})
                delta = {"type": "signature_delta", "signature": "c2lnbmVk"}
                yield event("content_block_delta", {"index": 0, "delta": delta})
                yield event("content_block_stop", {"index": 0})
                index = 1
            yield event(
                "content_block_start",
                {"index": index, "content_block": {"type": "text", "text": ""}},
            )
            for sent, word in enumerate(words):
                async for ping in self._pings_while_held(sent):
                    yield ping
                if behaviour.stall_after == sent:
                    await self._stall()
                if behaviour.cut_after == sent:
                    raise ConnectionAbortedError("scripted cut")
                if behaviour.malformed_after == sent:
                    yield b"event: content_block_delta\ndata: {this is not json\n\n"
                if behaviour.error_after == sent:
                    error = {
                        "type": behaviour.error_type or "overloaded_error",
                        "message": behaviour.error_message,
                    }
                    yield event("error", {"error": error})
                    return
                if behaviour.interim_usage and sent == len(words) // 2:
                    yield event(
                        "message_delta",
                        {
                            "delta": {"stop_reason": None, "stop_sequence": None},
                            "usage": {"output_tokens": output_tokens(sent)},
                        },
                    )
                if behaviour.pings:
                    yield event("ping", {})
                delta = {"type": "text_delta", "text": word}
                yield event("content_block_delta", {"index": index, "delta": delta})
            yield event("content_block_stop", {"index": index})
            if stop_reason is not None:
                yield event(
                    "message_delta",
                    {
                        "delta": {"stop_reason": stop_reason, "stop_sequence": stop_sequence},
                        "usage": {"output_tokens": output_tokens(len(words))},
                    },
                )
            if behaviour.message_stop:
                yield event("message_stop", {})
        except asyncio.CancelledError:
            self.abandoned += 1
            self.a_stream_was_abandoned.set()
            raise


@asynccontextmanager
async def running_anthropic_server() -> AsyncIterator[AnthropicMessagesServer]:
    server = AnthropicMessagesServer()
    async with serving(server.app(), server.port, log_level="critical"):
        try:
            yield server
        finally:
            # Stalled and held requests must not keep the server from stopping.
            server.stop()
