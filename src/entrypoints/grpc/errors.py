"""Every gRPC failure as a status with a message, from one table.

When the caller may retry after a known delay (rate limits, a spent budget), the status also
carries a `google.rpc.RetryInfo` detail: grpclib sends it as a `google.rpc.Status` in the
`grpc-status-details-bin` trailer, where grpcio, grpc-go and other stock clients look for it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message
from google.rpc.error_details_pb2 import RetryInfo
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from chatservice.domain import errors

STATUS_BY_ERROR: dict[type[errors.ChatServiceError], Status] = {
    errors.InvalidInput: Status.INVALID_ARGUMENT,
    errors.ForbiddenUser: Status.PERMISSION_DENIED,
    errors.ChatNotFound: Status.NOT_FOUND,
    errors.TurnNotFound: Status.NOT_FOUND,
    errors.MessageNotFound: Status.NOT_FOUND,
    errors.ChatEnded: Status.FAILED_PRECONDITION,
    errors.NothingToRegenerate: Status.FAILED_PRECONDITION,
    errors.NotLastUserMessage: Status.FAILED_PRECONDITION,
    errors.MessageSuperseded: Status.FAILED_PRECONDITION,
    errors.MessageErased: Status.FAILED_PRECONDITION,
    errors.TurnEnded: Status.FAILED_PRECONDITION,
    errors.TurnEventsExpired: Status.OUT_OF_RANGE,
    errors.TurnInProgress: Status.ABORTED,
    errors.ConcurrentUpdate: Status.ABORTED,
    errors.MessageTooLong: Status.INVALID_ARGUMENT,
    errors.IdempotencyKeyReused: Status.INVALID_ARGUMENT,
    errors.ProviderRateLimited: Status.RESOURCE_EXHAUSTED,
    errors.RateLimited: Status.RESOURCE_EXHAUSTED,
    errors.BudgetExhausted: Status.RESOURCE_EXHAUSTED,
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


def details_of(error: errors.ChatServiceError) -> list[Message] | None:
    """The `google.rpc.Status` details of `error`: a `RetryInfo` when the retry delay is known.

    grpclib's status-details codec packs each detail into a `google.protobuf.Any`, so anything
    but a list of protobuf messages here would fail while the trailers are being sent.
    """
    if error.retry_after_seconds is None:
        return None
    delay = Duration()
    delay.FromNanoseconds(round(error.retry_after_seconds * 1e9))
    return [RetryInfo(retry_delay=delay)]


@asynccontextmanager
async def grpc_status() -> AsyncIterator[None]:
    """Turn the domain errors raised inside the block into `GRPCError`s."""
    try:
        yield
    except errors.ChatServiceError as error:
        raise GRPCError(status_of(error), _bounded(error.message), details_of(error)) from error
