"""The service's rules for chats, as configured: what a new chat starts with, what a turn may do."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ChatPolicy:
    """The service's rules for chats: defaults for new chats and limits for every turn."""

    model: str = "gpt-4o-mini"
    system_message: str = "You are a helpful assistant."
    max_completion_tokens: int | None = None
    window_margin: int = 0
    max_message_chars: int = 100_000
    #: How long a turn's claim holds before another turn may take the chat (a crashed replica).
    claim_ttl_seconds: float = 120.0
