"""The service's rules for chats, as configured: what a new chat starts with, what a turn may do."""

from __future__ import annotations

from dataclasses import dataclass

from chatservice.domain.memory import Memory


@dataclass(frozen=True)
class ChatPolicy:
    """The service's rules for chats: defaults for new chats and limits for every turn.

    The values come from the settings (`model`, `system_message`, …), which own their defaults."""

    model: str
    system_message: str
    max_completion_tokens: int | None
    window_margin: int
    max_message_chars: int
    #: How long a turn's claim holds before another turn may take the chat (a crashed replica).
    claim_ttl_seconds: float
    #: What a new chat keeps of its erased exchanges when it does not say.
    memory: Memory
