"""Caller authentication shared by every transport: configured tokens, compared in constant time,
and what each token may do: a full token acts for every user, a scoped one (`[[tokens]]`) for
the users its glob matches."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Iterable
from contextvars import ContextVar
from dataclasses import dataclass

from chatservice.adapters.prometheus_metrics import observe_forbidden_user
from chatservice.domain.errors import ForbiddenUser
from chatservice.domain.tenants import glob_covers
from chatservice.entrypoints.settings.token_tables import ScopedToken

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Caller:
    """Whom a request's token lets it act for. `name`: the scoped token's name (None for a full
    token), what metrics and logs call it; never its value. `users`: a glob on `user_id`
    (`acme:*`), None for every user."""

    name: str | None = None
    users: str | None = None

    def admits(self, user_id: str) -> bool:
        return self.users is None or glob_covers(self.users, user_id)

    def check_user(self, user_id: str) -> None:
        """`ForbiddenUser` unless this caller may act for `user_id`."""
        if not self.admits(user_id):
            log.warning("token %r refused for a user outside %r", self.name, self.users)
            observe_forbidden_user(self.name or "")
            raise ForbiddenUser(self.name or "", user_id)


FULL_ACCESS = Caller()
#: A request whose token the service does not know: it acts for nobody (and the token guard
#: refuses it before anything asks).
NOBODY = Caller(name="", users="")

#: The caller of the request (HTTP) or call (gRPC) being served, set once its token is accepted.
#: Outside a request (the CLI, the WhatsApp webhook, background work) nobody is scoped.
current_caller: ContextVar[Caller] = ContextVar("current_caller", default=FULL_ACCESS)


def check_user(user_id: str) -> None:
    """`ForbiddenUser` unless the current caller may act for `user_id`."""
    current_caller.get().check_user(user_id)


class TokenAuthenticator:
    """Accepts `<token>` or `Bearer <token>` against any configured token (several full ones, for
    rotation, and the scoped ones), and says whose it is.

    Header values are compared as UTF-8 bytes with `hmac.compare_digest`, every configured token
    each time, so timing reveals neither which token matched nor how much of one did.
    """

    def __init__(self, tokens: Iterable[str], scoped: Iterable[ScopedToken] = ()) -> None:
        self._tokens = tuple((t.encode(), FULL_ACCESS) for t in tokens) + tuple(
            (s.token.encode(), Caller(s.name, s.users)) for s in scoped
        )

    def caller(self, header: str | bytes | None) -> Caller | None:
        """Whose token `header` holds; None when it holds none the service knows."""
        if header is None:
            return None
        raw = header if isinstance(header, bytes) else header.encode("utf-8", "surrogateescape")
        scheme, _, rest = raw.partition(b" ")
        candidate = rest.strip() if scheme.lower() == b"bearer" and rest else raw.strip()
        found: Caller | None = None
        for token, caller in self._tokens:
            if hmac.compare_digest(candidate, token):
                found = caller
        return found

    def accepts(self, header: str | bytes | None) -> bool:
        return self.caller(header) is not None
