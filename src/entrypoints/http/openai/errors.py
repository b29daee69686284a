"""Errors on the OpenAI surface, in OpenAI's shape: `{"error": {"message", "type", "param",
"code"}}`, for our errors and the framework's (a route the surface lacks, a malformed body).

The status of each of our errors is the one of the rest of the API (`STATUS_BY_ERROR`); the
`type` is OpenAI's for that status (for a spent budget, OpenAI's for a spent quota), the `code`
ours."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException
from litestar.openapi.datastructures import ResponseSpec

from chatservice.domain import errors
from chatservice.entrypoints.http.errors import (
    DESCRIPTIONS,
    domain_error_response,
    framework_error_response,
    unexpected_error_response,
    with_forbidden,
)

#: The path under which errors take OpenAI's shape.
OPENAI_PREFIX = "/openai/v1"

_TYPES = {
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    429: "rate_limit_exceeded",
}


class OpenAIError(msgspec.Struct):
    message: str
    type: str
    param: str | None
    code: str | None


class OpenAIErrorBody(msgspec.Struct):
    error: OpenAIError


class InvalidParam(errors.InvalidInput):
    """Bad input in one named request parameter (OpenAI's `param`)."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param


def error_type(status: int) -> str:
    if status >= 500:
        return "server_error"
    return _TYPES.get(status, "invalid_request_error")


def openai_error_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI declarations of the error responses a route of this surface can give."""
    return {
        s: ResponseSpec(
            data_container=OpenAIErrorBody, description=DESCRIPTIONS[s], generate_examples=False
        )
        for s in with_forbidden(statuses)
    }


#: OpenAI's `type` of the 429 for a quota spent, which SDKs and clients tell apart from a rate
#: limit (waiting a moment does not help).
QUOTA_SPENT = "insufficient_quota"


def _reshaped(
    response: Response[Any], param: str | None = None, kind: str | None = None
) -> Response[OpenAIErrorBody]:
    """Our error response, its body in OpenAI's shape (of `kind`, by default OpenAI's type for
    its status); status and headers kept."""
    detail = response.content.error
    kind = kind or error_type(response.status_code or 500)
    body = OpenAIErrorBody(OpenAIError(detail.message, kind, param, detail.code))
    return Response(body, status_code=response.status_code, headers=response.headers)


def _openai(request: Request[Any, Any, Any]) -> bool:
    return request.url.path.startswith(OPENAI_PREFIX + "/") or request.url.path == OPENAI_PREFIX


def domain_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    response = domain_error_response(request, exc)
    if not _openai(request):
        return response
    if isinstance(exc, errors.BudgetExhausted):
        return _reshaped(response, kind=QUOTA_SPENT)
    return _reshaped(response, exc.param if isinstance(exc, InvalidParam) else None)


def framework_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    response = framework_error_response(request, exc)
    return _reshaped(response) if _openai(request) else response


def unexpected_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    response = unexpected_error_response(request, exc)
    return _reshaped(response) if _openai(request) else response


#: Every error of the app: in OpenAI's shape under `OPENAI_PREFIX`, in ours elsewhere.
EXCEPTION_HANDLERS = {
    errors.ChatServiceError: domain_error,
    HTTPException: framework_error,
    Exception: unexpected_error,
}
