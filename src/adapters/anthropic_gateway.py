"""`AnthropicChatGateway`: the `ChatGateway` port on the `anthropic` SDK's streaming Messages API.

The chat's messages take Anthropic's shape: the system message(s) go into the top-level `system`
field, the rest alternate user and assistant; `max_tokens` is always sent, and stop sequences
when the chat has them (the only sampling parameter the Messages API takes). Only `text_delta`s
become text (thinking, signatures and tool input are not the reply). Usage comes from
`message_start` (input, cache writes and cache reads add up to the prompt) and `message_delta`
(output tokens, cumulative). As with OpenAI, the SDK retries (boundedly) only while no response
has arrived, and every failure becomes a domain error, including an `error` event that arrives
mid-stream after an HTTP 200.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncGenerator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import anthropic
import httpx2

from chatservice.application.ports import (
    CompletionEnd,
    CompletionRequest,
    PromptMessage,
    TextDelta,
)
from chatservice.domain.chat import Role, Usage
from chatservice.domain.errors import (
    ChatServiceError,
    MessageTooLong,
    ProviderRateLimited,
    ProviderRejected,
    ProviderTimeout,
    ProviderUnavailable,
)
from chatservice.domain.providers import (
    ANTHROPIC_API_URL,
    is_anthropic_endpoint,
    refused_prompt_tokens,
    retry_after_seconds,
)

# Anthropic-compatible servers that need no key still get an Authorization header from the SDK,
# and an explicit key stops the SDK from looking for credentials in the environment or on disk.
_NO_KEY = "no-key-configured"

#: Anthropic's stop reasons that end a reply normally, as the port's finish reasons.
_FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "refusal": "content_filter",
}

#: The HTTP status each error type of Anthropic's comes with, to classify an `error` event that
#: arrives in the body of a 200 exactly as the same error before the stream would be.
_STATUS_OF_ERROR_TYPE = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}

# "prompt is too long: 208656 tokens > 200000 maximum", or, for the prompt and `max_tokens`
# together, "input length and `max_tokens` exceed context limit: 197626 + 8192 > 200000".
_CONTEXT_OVERFLOW = re.compile(r"prompt is too long|exceeds? context limit", re.IGNORECASE)


@dataclass(frozen=True)
class AnthropicConfig:
    api_key: str | None = None
    base_url: str = ANTHROPIC_API_URL
    connect_timeout: float = 5.0
    #: The longest pause allowed between two events of a stream (and before the first). Anthropic
    #: sends `ping` events while a reply is slow to come, which count as events.
    idle_timeout: float = 60.0
    #: The longest a whole turn may take, first byte to last.
    turn_timeout: float = 110.0
    #: Retries of a request that got no response yet (connection errors, 408, 409, 429, 5xx, 529).
    max_retries: int = 2


class AnthropicChatGateway:
    def __init__(self, config: AnthropicConfig) -> None:
        if is_anthropic_endpoint(config.base_url) and not config.api_key:
            raise ProviderRejected("an API key is required for Anthropic's own endpoint")
        self._config = config
        self._client = anthropic.AsyncAnthropic(
            api_key=config.api_key or _NO_KEY,
            base_url=config.base_url,
            max_retries=config.max_retries,
            timeout=anthropic.Timeout(
                config.turn_timeout, connect=config.connect_timeout, read=config.idle_timeout
            ),
        )

    async def aclose(self) -> None:
        await self._client.close()

    def _arguments(self, request: CompletionRequest) -> dict[str, Any]:  # JSON for the SDK
        params, model = request.params, request.model
        system, messages = anthropic_prompt(request.messages)
        arguments: dict[str, Any] = {
            "model": model.name,
            "messages": messages,
            # Required by Anthropic: the reply budget the chat reserved in its window.
            "max_tokens": params.max_completion_tokens,
            "stream": True,
        }
        if system:
            arguments["system"] = system
        # Stop sequences are the one sampling parameter the Messages API still takes: from its
        # version 2026-10-21 (the one SDK 2.x sends) a temperature, top_p or top_k is refused on
        # every model, and the SDK's `create` no longer takes them; penalties never existed. The
        # registry's Claude models accept `stop` only, so a chat on one never holds the others.
        if params.stop and "stop" in model.sampling_params:
            arguments["stop_sequences"] = list(params.stop)
        return arguments

    async def stream(
        self, request: CompletionRequest
    ) -> AsyncGenerator[TextDelta | CompletionEnd, None]:
        deadline = asyncio.get_running_loop().time() + self._config.turn_timeout
        reply = _Reply()
        with _as_domain_errors():
            # Timeouts wrap single awaits, never a `yield`: the consumer's time is not ours.
            async with asyncio.timeout_at(deadline):
                events = await self._client.messages.create(
                    **self._arguments(request),
                    # The trace id, so a turn can be followed into the provider's logs (or a
                    # proxy's); never the idempotency key, which is the caller's own.
                    extra_headers={"X-Request-Id": request.trace_id} if request.trace_id else None,
                )
            # Leaving this block, by the end, an error or the consumer closing us, closes the
            # HTTP response, and so the request upstream.
            async with events:
                while not reply.stopped:
                    async with asyncio.timeout_at(deadline):
                        try:
                            event = await anext(events)
                        except StopAsyncIteration:
                            break
                    if text := reply.take(event):
                        yield TextDelta(text)
        yield reply.end()


def anthropic_prompt(messages: Sequence[PromptMessage]) -> tuple[str, list[dict[str, str]]]:
    """The system text and the turns of an Anthropic request.

    Every system message goes into the one top-level `system` text, in order, a blank line
    apart (a chat has one; a summary of erased messages may add another). The other messages
    keep their order; two in a row of one role, which Anthropic would refuse or merge, become
    one turn."""
    system = "\n\n".join(m.content for m in messages if m.role == Role.SYSTEM and m.content)
    turns: list[dict[str, str]] = []
    for message in messages:
        if message.role == Role.SYSTEM:
            continue
        if turns and turns[-1]["role"] == message.role:
            turns[-1]["content"] += "\n\n" + message.content
        else:
            turns.append({"role": message.role, "content": message.content})
    return system, turns


class _Reply:
    """What the events of one stream have said so far: the text's presence, the usage, the stop."""

    def __init__(self) -> None:
        self.stopped = False
        self._has_text = False
        self._stop_reason: str | None = None
        self._started = False
        self._input = self._cache_creation = self._cache_read = self._output = 0

    def take(self, event: Any) -> str | None:  # an SDK stream event; its union is open-ended
        """Note what `event` says; return the reply text it carries, if any."""
        if event.type == "message_start":
            self._started = True
            self._count(event.message.usage)
        elif event.type == "content_block_delta" and event.delta.type == "text_delta":
            text: str = event.delta.text
            self._has_text = self._has_text or bool(text)
            return text
        elif event.type == "message_delta":
            self._stop_reason = event.delta.stop_reason or self._stop_reason
            self._count(event.usage)
        elif event.type == "message_stop":
            self.stopped = True
        return None

    def _count(self, usage: Any) -> None:  # the SDK's Usage or MessageDeltaUsage
        # Every count is cumulative (message_delta repeats the input counts when it has them):
        # the latest report of each replaces the one before, never adds to it.
        if usage is None:
            return
        self._input = _tokens(usage, "input_tokens", self._input)
        self._cache_creation = _tokens(usage, "cache_creation_input_tokens", self._cache_creation)
        self._cache_read = _tokens(usage, "cache_read_input_tokens", self._cache_read)
        self._output = _tokens(usage, "output_tokens", self._output)

    def end(self) -> CompletionEnd:
        """The stream's last event, or the error its end amounts to."""
        if not self.stopped or self._stop_reason is None:
            raise ProviderUnavailable("the model's stream ended before its stop reason")
        if self._stop_reason == "model_context_window_exceeded":
            raise MessageTooLong("the model provider found the conversation longer than its window")
        finish_reason = _FINISH_REASONS.get(self._stop_reason)
        if finish_reason is None:
            # `tool_use` and `pause_turn` (and any reason added later) leave a turn unfinished
            # for a caller that runs tools or continues it; this service asks for neither.
            raise ProviderUnavailable(
                f"the model stopped for a reason this service does not handle ({self._stop_reason})"
            )
        if not self._has_text:
            raise ProviderUnavailable("the model returned an empty reply")
        usage = None
        if self._started:
            prompt = self._input + self._cache_creation + self._cache_read
            usage = Usage(prompt, self._output)
        return CompletionEnd(finish_reason, usage, cached_prompt_tokens=self._cache_read)


def _tokens(usage: Any, name: str, before: int) -> int:
    value = getattr(usage, name, None)
    return value if isinstance(value, int) else before


@contextmanager
def _as_domain_errors() -> Iterator[None]:
    """Translate the SDK's (and the stream's) failures into the domain's provider errors.

    Cancellation and generator exit are not `Exception`s and pass through untouched."""
    try:
        yield
    except ChatServiceError:
        raise
    except Exception as error:
        raise _domain_error(error) from error


def _domain_error(error: Exception) -> ChatServiceError:
    # Once the stream has begun, the SDK lets its HTTP client's errors through unwrapped.
    if isinstance(error, anthropic.APITimeoutError | httpx2.TimeoutException | TimeoutError):
        return ProviderTimeout("the model provider did not answer in time")
    if isinstance(error, anthropic.APIStatusError):
        return _status_error(error)
    if isinstance(error, anthropic.APIConnectionError | httpx2.TransportError):
        return ProviderUnavailable("the model provider could not be reached, or cut the stream")
    if isinstance(error, json.JSONDecodeError | anthropic.APIError | ValueError):
        return ProviderUnavailable("the model provider sent a malformed stream")
    return ProviderUnavailable(f"the model provider failed ({type(error).__name__})")


def _status_error(error: anthropic.APIStatusError) -> ChatServiceError:
    """An error response, or an `error` event in a stream that began with HTTP 200 (which the
    SDK raises with that status): classified by the status the error type stands for."""
    error_type, message = _error_of(error.body)
    status = error.status_code
    if status < 400:
        status = _STATUS_OF_ERROR_TYPE.get(error_type or "", 500)
    if status in (401, 403):
        return ProviderRejected("the model provider refused this service's credentials")
    if status == 429:
        # An error event mid-stream came with the stream's 200, whose headers say nothing of it.
        retry_after = (
            error.response.headers.get("retry-after") if error.status_code == 429 else None
        )
        return ProviderRateLimited(
            "the model provider is rate limiting this service", retry_after_seconds(retry_after)
        )
    if status == 400 and _CONTEXT_OVERFLOW.search(message):
        return MessageTooLong(
            "the model provider found the conversation longer than its window",
            refused_prompt_tokens(message),
        )
    if status < 500:
        return ProviderRejected(f"the model provider refused the request ({error_type or status})")
    if status == 529:
        return ProviderUnavailable("the model provider is overloaded")
    return ProviderUnavailable(f"the model provider failed ({error_type or status})")


def _error_of(body: object) -> tuple[str | None, str]:
    """`error.type` and `error.message` of Anthropic's error body."""
    inner = body.get("error") if isinstance(body, dict) else None
    if not isinstance(inner, dict):
        return None, ""
    error_type, message = inner.get("type"), inner.get("message")
    return (
        error_type if isinstance(error_type, str) else None,
        message if isinstance(message, str) else "",
    )
