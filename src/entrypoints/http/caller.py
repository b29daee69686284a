"""Who is calling: the token of each HTTP request, the caller it names (`entrypoints/auth.py`),
and the guard that refuses a request without one, or for a user its token may not act for."""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.handlers.base import BaseRouteHandler
from litestar.types import ASGIApp, Receive, Scope, Send

from chatservice.entrypoints.auth import NOBODY, TokenAuthenticator, current_caller
from chatservice.entrypoints.http.errors import Unauthenticated


def caller_middleware(authenticator: TokenAuthenticator) -> Any:
    """Whose token the request holds, in `current_caller` for the whole request: the guard and
    the handlers (a user named in the body: the compat route, the OpenAI surface) read it there.
    Set around the app, not in the guard, whose context the handler does not share."""

    def middleware(app: ASGIApp) -> ASGIApp:
        async def with_caller(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP:
                await app(scope, receive, send)
                return
            # Raw header bytes: a non-ASCII token must be compared as UTF-8, not as Latin-1.
            header = next((v for k, v in scope["headers"] if k == b"authorization"), None)
            token = current_caller.set(authenticator.caller(header) or NOBODY)
            try:
                await app(scope, receive, send)
            finally:
                current_caller.reset(token)

        return with_caller

    return middleware


def require_token(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    caller = current_caller.get()
    if caller is NOBODY:
        raise Unauthenticated("send a valid token in the Authorization header")
    user_id = connection.path_params.get("user_id")
    if isinstance(user_id, str):
        caller.check_user(user_id)
