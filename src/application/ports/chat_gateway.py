"""A language model behind a provider (`ChatGateway`) and the completion it streams: the request,
then `TextDelta`s and one `CompletionEnd`. Contract: `tests/contract/test_chat_gateway.py`."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Protocol

from chatservice.domain.chat import ChatParams, Usage
from chatservice.domain.models import ModelSpec


@dataclass(frozen=True)
class PromptMessage:
    role: str
    content: str


@dataclass(frozen=True)
class CompletionRequest:
    model: ModelSpec
    messages: tuple[PromptMessage, ...]
    params: ChatParams
    #: The trace id of the request the turn serves (`current_trace_id`), for the provider's
    #: logs; `None` for a turn no transport started. Never the caller's idempotency key.
    trace_id: str | None = None
    #: The model whose failure before its first text this request stands in for (a fallback);
    #: `None` for the chat's own model.
    fallback_from: str | None = None


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class CompletionEnd:
    """The last event of a completion. `usage` is `None` when the provider reported none.

    `cached_prompt_tokens`: how many of `usage.prompt_tokens` the provider read from its prompt
    cache (priced lower than the rest); 0 when none were, or the provider does not say."""

    finish_reason: str
    usage: Usage | None
    cached_prompt_tokens: int = 0


class ChatGateway(Protocol):
    """A language model behind some provider.

    `stream` yields `TextDelta`s, then exactly one `CompletionEnd`. A stream that stops without its
    `CompletionEnd` raises `ProviderUnavailable`; provider failures raise the `Provider*` domain
    errors (or `MessageTooLong` when the provider finds the prompt too long). Closing the iterator
    early (`aclose`, or cancelling its consumer) cancels the upstream request.
    """

    def stream(
        self, request: CompletionRequest
    ) -> AsyncGenerator[TextDelta | CompletionEnd, None]: ...
