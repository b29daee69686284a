"""The web chat page (docs/api.md): `GET /`, its scripts and its style sheet, open without a token.

The files ship inside the package (`static/`, the libraries under `static/vendor/` put there by
`scripts/vendor-frontend`) and are read once when the app is made; nothing is fetched from
elsewhere at run time. The page talks to the `/v1` API with the token its user gives.
"""

from __future__ import annotations

import hashlib
from importlib.resources import files
from typing import Any

from litestar import Request, Response, Router, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.status_codes import HTTP_304_NOT_MODIFIED

_STATIC = files(__package__) / "static"

#: The files under `/static/`, with their media types (Litestar adds `charset=utf-8`): the page's
#: own, then the Markdown parser and the HTML sanitizer it imports.
_ASSETS = {
    "app.js": "text/javascript",
    "page.js": "text/javascript",
    "errors.js": "text/javascript",
    "transcript.js": "text/javascript",
    "chats.js": "text/javascript",
    "composer.js": "text/javascript",
    "turns.js": "text/javascript",
    "api.js": "text/javascript",
    "control.js": "text/javascript",
    "markdown.js": "text/javascript",
    "style.css": "text/css",
    "vendor/marked/marked.esm.js": "text/javascript",
    "vendor/dompurify/purify.es.mjs": "text/javascript",
}

# Only this origin's script and style run, nothing inline and no plug-ins; the page talks to this
# service alone and may not be framed. The only HTML the page builds from text is a reply's
# Markdown, made by marked and cleaned by DOMPurify: Trusted Types hold every HTML sink shut but
# for DOMPurify's own policy, so no other code path can turn a string into markup.
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'; require-trusted-types-for 'script'; trusted-types dompurify"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Revalidated on every load (an upgrade shows at once); the ETag makes that a 304.
    "Cache-Control": "no-cache",
}


class _File:
    """One file of the page, with the validator a browser revalidates it by."""

    def __init__(self, content: bytes, media_type: str) -> None:
        self.content = content
        self.media_type = media_type
        self.etag = f'"{hashlib.sha256(content).hexdigest()[:32]}"'

    def answer(self, request: Request[Any, Any, Any]) -> Response[bytes]:
        headers = {**_HEADERS, "ETag": self.etag}
        if request.headers.get("if-none-match") == self.etag:
            return Response(b"", status_code=HTTP_304_NOT_MODIFIED, headers=headers)
        return Response(self.content, media_type=self.media_type, headers=headers)


def web_chat_router() -> Router:
    """The page and its files, kept out of the OpenAPI document (they are not the API)."""
    page = _File((_STATIC / "index.html").read_bytes(), "text/html")
    assets = {
        name: _File(_STATIC.joinpath(*name.split("/")).read_bytes(), media_type)
        for name, media_type in _ASSETS.items()
    }

    @get("/", include_in_schema=False)
    async def web_chat(request: Request[Any, Any, Any]) -> Response[bytes]:
        return page.answer(request)

    @get("/static/{name:path}", include_in_schema=False)
    async def web_chat_asset(
        request: Request[Any, Any, Any], name: FromPath[str]
    ) -> Response[bytes]:
        asset = assets.get(name.removeprefix("/"))
        if asset is None:
            raise NotFoundException(f"no static file {name.removeprefix('/')!r}")
        return asset.answer(request)

    return Router(path="/", route_handlers=[web_chat, web_chat_asset])
