"""Domain errors. Every transport maps each of them to one status in one module."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TypeVar

#: How much of a caller's text an error message repeats: a gRPC status message travels in a
#: header, and an HTTP/2 peer drops the connection over a header larger than it accepts.
SHOWN_CHARS = 64


def shown(text: str) -> str:
    """`text` quoted for an error message, cut to `SHOWN_CHARS` characters."""
    if len(text) <= SHOWN_CHARS:
        return repr(text)
    return f"{text[:SHOWN_CHARS]!r}… ({len(text)} characters)"


#: A choice among fixed names (`StrEnum`), as `member_named` reads one.
E = TypeVar("E", bound=StrEnum)


class ChatServiceError(Exception):
    """Base of every error the service reports to a caller.

    `code` is the stable machine-readable name a client can switch on; the message is for people.
    """

    code = "internal"
    #: Set when the caller may retry after this many seconds (rate limits).
    retry_after_seconds: float | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(ChatServiceError):
    code = "invalid_input"


def member_named(kind: type[E], field: str, name: str) -> E:
    """The member of the choice `kind` whose value is `name`; `InvalidInput` naming `field`
    and every choice for any other."""
    try:
        return kind(name)
    except ValueError:
        choices = ", ".join(repr(member.value) for member in kind)
        raise InvalidInput(f"{field} must be one of {choices}, not {name!r}") from None


class ForbiddenUser(ChatServiceError):
    """A scoped token acting for a user outside its `users` glob."""

    code = "forbidden_user"

    def __init__(self, token_name: str, user_id: str) -> None:
        super().__init__(f"token {token_name!r} may not act for user {shown(user_id)}")


class ChatNotFound(ChatServiceError):
    code = "chat_not_found"

    def __init__(self, chat_id: str) -> None:
        super().__init__(f"chat {shown(chat_id)} not found")


class MessageNotFound(ChatServiceError):
    """No message of that id in the chat (or the chat is another user's)."""

    code = "message_not_found"

    def __init__(self, message_id: str) -> None:
        super().__init__(f"message {shown(message_id)} not found in this chat")


class NothingToRegenerate(ChatServiceError):
    code = "nothing_to_regenerate"

    def __init__(self) -> None:
        super().__init__("the chat has no user message to answer again")


class NotLastUserMessage(ChatServiceError):
    code = "not_last_user_message"

    def __init__(self, message_id: str) -> None:
        super().__init__(
            f"message {shown(message_id)} is not the chat's last user message; only that one "
            "can be edited"
        )


class MessageSuperseded(ChatServiceError):
    code = "message_superseded"

    def __init__(self, message_id: str) -> None:
        super().__init__(
            f"message {shown(message_id)} was replaced by a newer version (regenerated or "
            "edited); fork from its current version"
        )


class MessageErased(ChatServiceError):
    code = "message_erased"

    def __init__(self, message_id: str) -> None:
        super().__init__(
            f"message {shown(message_id)} was erased to fit the context window, so the model "
            "would see nothing up to it; fork from a message still in the window"
        )


class ChatEnded(ChatServiceError):
    code = "chat_ended"

    def __init__(self, chat_id: str) -> None:
        super().__init__(f"chat {chat_id!r} has ended and takes no more messages")


class MessageTooLong(ChatServiceError):
    code = "message_too_long"

    def __init__(self, message: str, provider_prompt_tokens: int | None = None) -> None:
        super().__init__(message)
        #: Raised by a gateway: how many tokens the provider counted in the prompt it refused,
        #: when its error said.
        self.provider_prompt_tokens = provider_prompt_tokens


class ContextLengthExceeded(ChatServiceError):
    """A turn that asked for no truncation, whose conversation no longer fits the window."""

    code = "context_length_exceeded"

    def __init__(self) -> None:
        super().__init__(
            "the conversation and this input do not fit the model's context window; send "
            'truncation "auto" to let the oldest exchanges leave the prompt'
        )


class TurnInProgress(ChatServiceError):
    code = "turn_in_progress"

    def __init__(self, chat_id: str, idempotency_key: str | None = None) -> None:
        super().__init__(f"chat {chat_id!r} is answering another message; retry when it is done")
        #: The idempotency key of the turn holding the chat, when the store could tell.
        self.idempotency_key = idempotency_key


class ConcurrentUpdate(ChatServiceError):
    code = "concurrent_update"

    def __init__(self, chat_id: str, *, message: str | None = None) -> None:
        """`message`: for a write that lost to others on something other than a turn's chat."""
        super().__init__(
            message or f"chat {chat_id!r} changed while this turn ran; retry the message"
        )


class IdempotencyKeyReused(ChatServiceError):
    code = "idempotency_key_reused"

    def __init__(self, idempotency_key: str) -> None:
        super().__init__(
            f"idempotency key {idempotency_key!r} was already used with a different request"
        )


class RateLimited(ChatServiceError):
    """This service's own per-user limit, not the provider's."""

    code = "rate_limited"

    def __init__(self, message: str, retry_after_seconds: float) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class BudgetExhausted(ChatServiceError):
    """A budget of the user's, or of a scoped token covering them, is spent for its period
    (`domain/budgets.py`): no turn starts until the period ends."""

    code = "budget_exhausted"

    def __init__(
        self, limits: tuple[str, ...], renews_at: datetime, retry_after_seconds: float
    ) -> None:
        super().__init__(
            f"the budget of {' and of '.join(limits)} is spent; no turn starts before "
            f"{renews_at.isoformat().replace('+00:00', 'Z')}"
        )
        #: Each limit reached, as the message names it.
        self.limits = limits
        self.renews_at = renews_at
        self.retry_after_seconds = retry_after_seconds


class ProviderUnavailable(ChatServiceError):
    code = "provider_unavailable"


class ProviderRateLimited(ChatServiceError):
    code = "provider_rate_limited"

    def __init__(self, message: str, retry_after_seconds: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class ProviderTimeout(ChatServiceError):
    code = "provider_timeout"


class ProviderRejected(ChatServiceError):
    code = "provider_rejected"


class StorageUnavailable(ChatServiceError):
    code = "storage_unavailable"


class TurnNotFound(ChatServiceError):
    """No turn of this request id in the chat: never started, or forgotten (it ended long ago
    without storing anything, or its replica died)."""

    code = "turn_not_found"

    def __init__(self, request_id: str) -> None:
        super().__init__(f"no turn with request id {shown(request_id)} in this chat")


class TurnEnded(ChatServiceError):
    """The turn has already ended, so it can no longer be cancelled."""

    code = "turn_ended"

    def __init__(self, request_id: str, outcome: str) -> None:
        super().__init__(f"the turn {shown(request_id)} has already ended ({outcome})")


class TurnEventsExpired(ChatServiceError):
    """The turn's events are no longer kept, so they cannot be resumed after a given event; its
    stored reply can still be read."""

    code = "turn_events_expired"

    def __init__(self, request_id: str, after: int) -> None:
        super().__init__(
            f"the events of turn {shown(request_id)} are no longer kept, so they cannot resume "
            f"after event {after}; read its reply from the turn's status, or its events from 0"
        )
