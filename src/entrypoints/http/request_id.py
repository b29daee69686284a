"""Every HTTP request gets an id: the caller's `X-Request-Id` when it is sane, else a new one.

It is returned in the response's `X-Request-Id` header, stamped on the request's log records and
sent to the model provider with the turn's call.
"""

from __future__ import annotations

from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from chatservice.application.observability import current_request_id, request_id_from


def request_id_middleware(app: ASGIApp) -> ASGIApp:
    async def with_request_id(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        given = next((v for k, v in scope["headers"] if k == b"x-request-id"), None)
        request_id = request_id_from(given.decode("latin-1") if given is not None else None)
        token = current_request_id.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers: list[Any] = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await app(scope, receive, send_with_id)
        finally:
            current_request_id.reset(token)

    return with_request_id
