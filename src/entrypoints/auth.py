"""Caller authentication shared by every transport: configured tokens, compared in constant time."""

from __future__ import annotations

import hmac
from collections.abc import Iterable


class TokenAuthenticator:
    """Accepts `<token>` or `Bearer <token>` against any configured token (several, for rotation).

    Header values are compared as UTF-8 bytes with `hmac.compare_digest`, every configured token
    each time, so timing reveals neither which token matched nor how much of one did.
    """

    def __init__(self, tokens: Iterable[str]) -> None:
        self._tokens = tuple(t.encode() for t in tokens)

    def accepts(self, header: str | bytes | None) -> bool:
        if header is None:
            return False
        raw = header if isinstance(header, bytes) else header.encode("utf-8", "surrogateescape")
        scheme, _, rest = raw.partition(b" ")
        candidate = rest.strip() if scheme.lower() == b"bearer" and rest else raw.strip()
        matched = False
        for token in self._tokens:
            matched |= hmac.compare_digest(candidate, token)
        return matched
