"""Every gRPC failure as a status with a message (SPEC §5.0), from one table."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from grpclib.const import Status
from grpclib.exceptions import GRPCError

from chatservice.domain import errors

STATUS_BY_ERROR: dict[type[errors.ChatServiceError], Status] = {
    errors.InvalidInput: Status.INVALID_ARGUMENT,
    errors.ChatNotFound: Status.NOT_FOUND,
    errors.ChatEnded: Status.FAILED_PRECONDITION,
    errors.TurnInProgress: Status.ABORTED,
    errors.ConcurrentUpdate: Status.ABORTED,
    errors.MessageTooLong: Status.INVALID_ARGUMENT,
    errors.IdempotencyKeyReused: Status.INVALID_ARGUMENT,
    errors.ProviderRateLimited: Status.RESOURCE_EXHAUSTED,
    errors.RateLimited: Status.RESOURCE_EXHAUSTED,
    errors.ProviderUnavailable: Status.UNAVAILABLE,
    errors.ProviderRejected: Status.UNAVAILABLE,
    errors.StorageUnavailable: Status.UNAVAILABLE,
    errors.ProviderTimeout: Status.DEADLINE_EXCEEDED,
}


def status_of(error: errors.ChatServiceError) -> Status:
    return next(
        (s for kind, s in STATUS_BY_ERROR.items() if isinstance(error, kind)), Status.INTERNAL
    )


#: gRPC carries the message in an HTTP/2 trailer; clients drop the connection over a few KiB.
MAX_MESSAGE_BYTES = 1024


def _bounded(message: str) -> str:
    encoded = message.encode()
    if len(encoded) <= MAX_MESSAGE_BYTES:
        return message
    return encoded[: MAX_MESSAGE_BYTES - 3].decode(errors="ignore") + "…"


@asynccontextmanager
async def grpc_status() -> AsyncIterator[None]:
    """Turn the domain errors raised inside the block into `GRPCError`s."""
    try:
        yield
    except errors.ChatServiceError as error:
        details = None
        if error.retry_after_seconds is not None:
            details = f"retry after {error.retry_after_seconds:g} s"
        raise GRPCError(status_of(error), _bounded(error.message), details) from error
