"""The web chat page (docs/api.md): `GET /`, its script and its style sheet, open without a token.

The files ship inside the package (`static/`) and are read once when the app is made; nothing is
fetched from elsewhere at run time. The page talks to the `/v1` API with the token its user gives.
"""

from __future__ import annotations

from importlib.resources import files

from litestar import Response, Router, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath

_STATIC = files(__package__) / "static"

#: The files under `/static/`, with their media types (Litestar adds `charset=utf-8`).
_ASSETS = {
    "app.js": "text/javascript",
    "style.css": "text/css",
}

# Only this origin's script and style run, nothing inline and no plug-ins; the page talks to this
# service alone and may not be framed. Text is never HTML in the page: this is the second wall.
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Small files: revalidated on every load, so an upgrade shows at once.
    "Cache-Control": "no-cache",
}


def web_chat_router() -> Router:
    """The page and its files, kept out of the OpenAPI document (they are not the API)."""
    page = (_STATIC / "index.html").read_bytes()
    assets = {name: (_STATIC / name).read_bytes() for name in _ASSETS}

    @get("/", include_in_schema=False)
    async def web_chat() -> Response[bytes]:
        return Response(page, media_type="text/html", headers=_HEADERS)

    @get("/static/{name:str}", include_in_schema=False)
    async def web_chat_asset(name: FromPath[str]) -> Response[bytes]:
        if name not in assets:
            raise NotFoundException(f"no static file {name!r}")
        return Response(assets[name], media_type=_ASSETS[name], headers=_HEADERS)

    return Router(path="/", route_handlers=[web_chat, web_chat_asset])
