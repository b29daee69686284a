"""The rules an exported chat must keep to be stored again: what the service itself could have
written, so that an imported chat behaves as any other (its window, its counts, its turns)."""

from __future__ import annotations

from collections.abc import Callable

from chatservice.domain.chat import TITLE_LENGTH, Chat, Message, Role, validate_content
from chatservice.domain.errors import InvalidInput


def check_importable(chat: Chat, max_chars: int, cost: Callable[[Message], int]) -> None:
    """Raise `InvalidInput` (naming the first rule broken) unless `chat` is consistent.

    The messages sit at positions 0, 1, 2, …; the first, and only it, is the system message,
    never erased nor superseded; no message is both erased and superseded; each one's content
    follows the input rules and its `tokens` are what `cost` counts for it; only replies carry
    a finish reason or usage; token figures are never negative; the title fits."""
    if not chat.messages:
        raise InvalidInput("an exported chat holds at least its system message")
    if len(chat.title) > TITLE_LENGTH:
        raise InvalidInput(f"title is longer than {TITLE_LENGTH} characters")
    if min(chat.usage.prompt_tokens, chat.usage.completion_tokens, chat.version) < 0:
        raise InvalidInput("usage and version must not be negative")
    for index, message in enumerate(chat.messages):
        _check_message(index, message, max_chars, cost)


def _check_message(
    index: int, message: Message, max_chars: int, cost: Callable[[Message], int]
) -> None:
    where = f"messages[{index}]"
    if message.position != index:
        raise InvalidInput(f"{where}: position {message.position}, expected {index}")
    if (message.role is Role.SYSTEM) != (index == 0):
        raise InvalidInput(f"{where}: the system message is the first, and only the first")
    if index == 0 and not message.in_window:
        raise InvalidInput(f"{where}: the system message is never erased nor superseded")
    if message.erased and message.superseded:
        raise InvalidInput(f"{where}: a message is never both erased and superseded")
    validate_content(message.content, max_chars, f"{where}.content")
    if message.tokens != cost(message):
        raise InvalidInput(
            f"{where}: tokens {message.tokens} is not the message's cost ({cost(message)})"
        )
    figures = (message.prompt_tokens, message.completion_tokens)
    if any(f is not None and f < 0 for f in figures):
        raise InvalidInput(f"{where}: usage must not be negative")
    if message.role is not Role.ASSISTANT and (
        message.finish_reason is not None
        or message.model is not None
        or any(f is not None for f in figures)
    ):
        raise InvalidInput(f"{where}: only a reply has a finish reason, usage or model")
