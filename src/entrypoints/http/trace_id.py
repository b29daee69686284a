"""Every HTTP request gets a trace id: the caller's `X-Request-Id` when it is sane, else a new one.

It is returned in the response's `X-Request-Id` header, stamped on the request's log records and
sent to the model provider with the turn's call. It is not the `Idempotency-Key`, which names a
turn, not a request.
"""

from __future__ import annotations

from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from chatservice.application.observability import current_trace_id, trace_id_from


def trace_id_middleware(app: ASGIApp) -> ASGIApp:
    async def with_trace_id(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        given = next((v for k, v in scope["headers"] if k == b"x-request-id"), None)
        trace_id = trace_id_from(given.decode("latin-1") if given is not None else None)
        token = current_trace_id.set(trace_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers: list[Any] = list(message.get("headers", []))
                headers.append((b"x-request-id", trace_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await app(scope, receive, send_with_id)
        finally:
            current_trace_id.reset(token)

    return with_trace_id
