"""Domain errors. Every transport maps each of them to one status in one module."""

from __future__ import annotations


class ChatServiceError(Exception):
    """Base of every error the service reports to a caller.

    `code` is the stable machine-readable name a client can switch on; the message is for people.
    """

    code = "internal"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(ChatServiceError):
    code = "invalid_input"


class ChatNotFound(ChatServiceError):
    code = "chat_not_found"

    def __init__(self, chat_id: str) -> None:
        super().__init__(f"chat {chat_id!r} not found")


class ChatEnded(ChatServiceError):
    code = "chat_ended"

    def __init__(self, chat_id: str) -> None:
        super().__init__(f"chat {chat_id!r} has ended and takes no more messages")


class MessageTooLong(ChatServiceError):
    code = "message_too_long"


class TurnInProgress(ChatServiceError):
    code = "turn_in_progress"

    def __init__(self, chat_id: str, request_id: str | None = None) -> None:
        super().__init__(f"chat {chat_id!r} is answering another message; retry when it is done")
        self.request_id = request_id


class ConcurrentUpdate(ChatServiceError):
    code = "concurrent_update"

    def __init__(self, chat_id: str) -> None:
        super().__init__(f"chat {chat_id!r} changed while this turn ran; retry the message")


class IdempotencyKeyReused(ChatServiceError):
    code = "idempotency_key_reused"

    def __init__(self, request_id: str) -> None:
        super().__init__(f"request id {request_id!r} was already used with a different message")


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
