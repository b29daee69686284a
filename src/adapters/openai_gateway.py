"""`OpenAIChatGateway`: the `ChatGateway` port on the `openai` SDK, for OpenAI and any
OpenAI-compatible server (vLLM, Ollama, LiteLLM, …) by `base_url`.

The request follows the model registry, not code paths: the max-tokens parameter's name and the
sampling parameters a model accepts come from its `ModelSpec`. The SDK retries (boundedly) only
while no response has arrived; once the stream has started nothing is retried, so no reply is
ever doubled. Every SDK failure becomes a domain error.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import openai

from chatservice.application.ports import CompletionEnd, CompletionRequest, TextDelta
from chatservice.domain.chat import Usage
from chatservice.domain.errors import (
    ChatServiceError,
    MessageTooLong,
    ProviderRateLimited,
    ProviderRejected,
    ProviderTimeout,
    ProviderUnavailable,
)
from chatservice.domain.providers import (
    CONTEXT_OVERFLOW,
    is_openai_endpoint,
    refused_prompt_tokens,
    retry_after_seconds,
)

# Compatible servers that need no key still get an Authorization header from the SDK.
_NO_KEY = "no-key-configured"


@dataclass(frozen=True)
class OpenAIConfig:
    """The `openai_*` settings, which own the defaults (src/entrypoints/settings/catalogue.py)."""

    api_key: str | None
    base_url: str | None
    organization: str | None
    project: str | None
    connect_timeout: float
    #: The longest pause allowed between two chunks of a stream (and before the first).
    idle_timeout: float
    #: The longest a whole turn may take, first byte to last.
    turn_timeout: float
    #: Retries of a request that got no response yet (connection errors, 408, 429, 5xx).
    max_retries: int


class OpenAIChatGateway:
    def __init__(self, config: OpenAIConfig) -> None:
        if is_openai_endpoint(config.base_url) and not config.api_key:
            raise ProviderRejected("an API key is required for OpenAI's own endpoint")
        self._config = config
        self._client = openai.AsyncOpenAI(
            api_key=config.api_key or _NO_KEY,
            base_url=config.base_url,
            organization=config.organization,
            project=config.project,
            max_retries=config.max_retries,
            timeout=openai.Timeout(
                config.turn_timeout, connect=config.connect_timeout, read=config.idle_timeout
            ),
        )

    async def aclose(self) -> None:
        await self._client.close()

    def _arguments(self, request: CompletionRequest) -> dict[str, Any]:  # JSON for the SDK
        params, model = request.params, request.model
        arguments: dict[str, Any] = {
            "model": model.name,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "stream": True,
            "stream_options": {"include_usage": True},
            model.max_tokens_param: params.max_completion_tokens,
        }
        # The chat's parameters carry OpenAI's names; a model gets those it accepts.
        arguments.update(
            (name, list(value) if isinstance(value, tuple) else value)
            for name, value in params.sampling().items()
            if name in model.sampling_params
        )
        return arguments

    async def stream(
        self, request: CompletionRequest
    ) -> AsyncGenerator[TextDelta | CompletionEnd, None]:
        deadline = asyncio.get_running_loop().time() + self._config.turn_timeout
        finish_reason: str | None = None
        usage: Usage | None = None
        cached = 0
        with _as_domain_errors():
            # Timeouts wrap single awaits, never a `yield`: the consumer's time is not ours.
            async with asyncio.timeout_at(deadline):
                chunks = await self._client.chat.completions.create(
                    **self._arguments(request),
                    # The trace id, so a turn can be followed into the provider's logs (or a
                    # proxy's); never the idempotency key, which is the caller's own.
                    extra_headers={"X-Request-Id": request.trace_id} if request.trace_id else None,
                )
            async with chunks:
                iterator: AsyncIterator[Any] = chunks.__aiter__()
                while True:
                    async with asyncio.timeout_at(deadline):
                        try:
                            chunk = await anext(iterator)
                        except StopAsyncIteration:
                            break
                    if chunk.usage is not None:
                        usage = Usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
                        cached = _cached_tokens(chunk.usage)
                    for choice in chunk.choices[:1]:
                        if choice.delta is not None and choice.delta.content:
                            yield TextDelta(choice.delta.content)
                        finish_reason = choice.finish_reason or finish_reason
        if finish_reason is None:
            raise ProviderUnavailable("the model's stream ended before its finish reason")
        yield CompletionEnd(finish_reason, usage, cached_prompt_tokens=cached)


def _cached_tokens(usage: Any) -> int:  # the SDK's CompletionUsage
    """The prompt tokens OpenAI read from its cache (`prompt_tokens_details.cached_tokens`);
    0 where the server does not say, as many OpenAI-compatible servers do not."""
    details = getattr(usage, "prompt_tokens_details", None)
    cached = getattr(details, "cached_tokens", None)
    return cached if isinstance(cached, int) and cached > 0 else 0


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
    if isinstance(error, openai.APITimeoutError | TimeoutError):
        return ProviderTimeout("the model provider did not answer in time")
    if isinstance(error, openai.RateLimitError):
        return ProviderRateLimited(
            "the model provider is rate limiting this service",
            retry_after_seconds(error.response.headers.get("retry-after")),
        )
    if isinstance(error, openai.AuthenticationError | openai.PermissionDeniedError):
        return ProviderRejected("the model provider refused this service's credentials")
    if isinstance(error, openai.BadRequestError) and _too_long(error):
        return MessageTooLong(
            "the model provider found the conversation longer than its window",
            refused_prompt_tokens(_message(error)),
        )
    if isinstance(error, openai.APIStatusError) and error.status_code < 500:
        return ProviderRejected(f"the model provider refused the request ({error.status_code})")
    if isinstance(error, openai.APIStatusError):
        return ProviderUnavailable(f"the model provider failed ({error.status_code})")
    if isinstance(error, openai.APIConnectionError):
        return ProviderUnavailable("the model provider could not be reached, or cut the stream")
    if isinstance(error, json.JSONDecodeError | openai.APIError | ValueError):
        return ProviderUnavailable("the model provider sent a malformed stream")
    return ProviderUnavailable(f"the model provider failed ({type(error).__name__})")


def _too_long(error: openai.BadRequestError) -> bool:
    """OpenAI says so by its error code; vLLM and others only in the message."""
    return _code(error) == "context_length_exceeded" or bool(
        CONTEXT_OVERFLOW.search(_message(error))
    )


def _error_field(error: openai.APIStatusError, name: str) -> object:
    body = error.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            return inner.get(name)
    return getattr(error, name, None)


def _code(error: openai.APIStatusError) -> str | None:
    code = _error_field(error, "code")
    return code if isinstance(code, str) else None


def _message(error: openai.APIStatusError) -> str:
    message = _error_field(error, "message")
    return message if isinstance(message, str) else ""
