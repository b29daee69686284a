"""Every HTTP error, ours and the framework's, as `{"error": {"code", "message"}}` (docs/api.md)."""

from __future__ import annotations

import logging
import math
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.datastructures import ResponseSpec

from chatservice.domain import errors
from chatservice.domain.responses import ResponseNotFound
from chatservice.entrypoints.http.schemas import ErrorBody, ErrorDetail

log = logging.getLogger(__name__)


class Unauthenticated(errors.ChatServiceError):
    code = "unauthenticated"


class InvalidTwilioSignature(errors.ChatServiceError):
    code = "invalid_signature"

    def __init__(self) -> None:
        super().__init__("X-Twilio-Signature is missing or not Twilio's signature of this request")


class WhatsAppNotConfigured(errors.ChatServiceError):
    code = "whatsapp_not_configured"

    def __init__(self) -> None:
        super().__init__(
            "the WhatsApp webhook is off: set twilio_account_sid and twilio_auth_token"
        )


class ClientGone(errors.ChatServiceError):
    """The caller disconnected before the reply was complete; nobody reads the answer."""

    code = "client_closed_request"

    def __init__(self) -> None:
        super().__init__("the client closed the request before the reply was complete")


STATUS_BY_ERROR: dict[type[errors.ChatServiceError], int] = {
    errors.InvalidInput: 400,
    Unauthenticated: 401,
    errors.ForbiddenUser: 403,
    errors.ChatNotFound: 404,
    errors.TurnNotFound: 404,
    ResponseNotFound: 404,
    errors.MessageNotFound: 404,
    errors.ChatEnded: 409,
    errors.NothingToRegenerate: 409,
    errors.NotLastUserMessage: 409,
    errors.MessageSuperseded: 409,
    errors.MessageErased: 409,
    errors.TurnEnded: 409,
    errors.TurnEventsExpired: 410,
    errors.TurnInProgress: 409,
    errors.ConcurrentUpdate: 409,
    errors.MessageTooLong: 413,
    # OpenAI's status for a conversation that no longer fits with `truncation: disabled`.
    errors.ContextLengthExceeded: 400,
    errors.IdempotencyKeyReused: 422,
    errors.ProviderRateLimited: 429,
    errors.RateLimited: 429,
    errors.BudgetExhausted: 429,
    errors.ProviderUnavailable: 502,
    errors.ProviderRejected: 502,
    errors.StorageUnavailable: 503,
    errors.ProviderTimeout: 504,
    InvalidTwilioSignature: 403,
    WhatsAppNotConfigured: 404,
    # nginx's convention for a request the client abandoned; no client ever receives it.
    ClientGone: 499,
}

_FRAMEWORK_CODES = {
    400: "invalid_input",
    401: "unauthenticated",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
}

DESCRIPTIONS = {
    400: "Bad input: malformed JSON, wrong types, or a rule of the service broken",
    401: "No token, or a token the service does not know",
    403: "The token may not act for this user (a scoped token outside its users), or the "
    "Twilio signature is missing or wrong",
    404: "No such chat (turn, response, conversation, message) for this user, or no such route",
    409: "The chat has ended, or another turn holds it (or the turn to cancel has ended), or "
    "the chat's messages do not allow it (nothing to regenerate, not the last user message, "
    "a superseded or erased message)",
    410: "The turn's events are no longer kept after that id: read them from 0",
    413: "The message does not fit the context window, or the body is too large",
    422: "The idempotency key was used before with a different request",
    429: "Too many messages from this user, a budget spent for its period, or the provider is "
    "rate limiting; see Retry-After",
    502: "The model provider failed or refused the call",
    503: "The database is unavailable",
    504: "The model provider timed out",
}


def status_of(error: errors.ChatServiceError) -> int:
    return next(s for kind, s in STATUS_BY_ERROR.items() if isinstance(error, kind))


def error_body(code: str, message: str) -> ErrorBody:
    return ErrorBody(ErrorDetail(code=code, message=message))


def error_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI declarations of the error responses a route can give."""
    return {
        s: ResponseSpec(
            data_container=ErrorBody, description=DESCRIPTIONS[s], generate_examples=False
        )
        for s in with_forbidden(statuses)
    }


def with_forbidden(statuses: tuple[int, ...]) -> tuple[int, ...]:
    """Every route that takes a token (401) may be refused to a scoped one (403)."""
    return tuple(sorted({*statuses, 403})) if 401 in statuses else statuses


def domain_error_response(_: Request[Any, Any, Any], exc: Exception) -> Response[ErrorBody]:
    assert isinstance(exc, errors.ChatServiceError)
    headers = {}
    if exc.retry_after_seconds is not None:
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after_seconds)))
    if isinstance(exc, Unauthenticated):
        headers["WWW-Authenticate"] = "Bearer"
    return Response(error_body(exc.code, exc.message), status_code=status_of(exc), headers=headers)


def framework_error_response(_: Request[Any, Any, Any], exc: Exception) -> Response[ErrorBody]:
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    message = str(exc.detail)
    if isinstance(exc, ValidationException) and isinstance(exc.extra, list):
        reasons = [
            f"{item.get('key') or 'body'}: {item.get('message')}"
            for item in exc.extra
            if isinstance(item, dict)
        ]
        message = "; ".join([message, *reasons]) if reasons else message
    code = _FRAMEWORK_CODES.get(status, "http_error" if status < 500 else "internal")
    return Response(error_body(code, message), status_code=status, headers=exc.headers)


def unexpected_error_response(
    request: Request[Any, Any, Any], exc: Exception
) -> Response[ErrorBody]:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return Response(error_body("internal", "internal error"), status_code=500)
