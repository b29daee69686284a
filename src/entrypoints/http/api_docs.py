"""The API reference page, `/schema`: Redoc, run from files shipped in the package.

Litestar's own pages load their scripts, fonts and icon from CDNs: blank without internet, and
third-party script in the operator's browser. Here the page, the OpenAPI document and Redoc's
bundle (vendored by `scripts/vendor-frontend`) all come from this service, under a CSP that lets
nothing else in. The other documents stay where they were: `/schema/openapi.json` and
`/schema/openapi.yaml`.
"""

from __future__ import annotations

import html
from importlib.resources import files
from typing import Any

from litestar import Request, Response, Router, get
from litestar.openapi.plugins import OpenAPIRenderPlugin, YamlRenderPlugin

_REDOC = files(__package__) / "static" / "vendor" / "redoc"
_REDOC_VERSION = (_REDOC / "VERSION").read_text(encoding="utf-8").strip()
#: Under the docs router's path (`/schema`); the version in the name lets browsers keep it.
_SCRIPT_PATH = f"/static/redoc-{_REDOC_VERSION}.standalone.js"

# Redoc puts its styles in <style> elements (styled-components) and runs its search index in a
# worker it makes from a blob; no other inline code, nothing from elsewhere, no framing.
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; font-src 'self'; connect-src 'self'; worker-src blob:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class ShippedRedocRenderPlugin(OpenAPIRenderPlugin):
    """Redoc from the package. The page has no inline script: Redoc's bundle finds the
    `<redoc spec-url>` element by itself and reads the document from its URL."""

    def __init__(self) -> None:
        # `favicon`: an empty icon, so the browser asks nobody for one.
        super().__init__(path="/redoc", favicon="<link rel='icon' href='data:,'>")

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        title = html.escape(str(openapi_schema["info"]["title"]))
        spec_url = html.escape(self.get_openapi_json_route(request))
        script_url = html.escape(request.app.route_reverse("api_docs_script"))
        return (
            "<!DOCTYPE html>\n<html lang='en'>\n<head>\n<meta charset='utf-8'>\n"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>\n"
            f"<title>{title}</title>\n{self.favicon}\n{self.style}\n</head>\n<body>\n"
            f"<redoc spec-url='{spec_url}'></redoc>\n<script src='{script_url}'></script>\n"
            "</body>\n</html>\n"
        ).encode()

    def receive_router(self, router: Router) -> None:
        bundle = (_REDOC / "redoc.standalone.js").read_bytes()

        @get(_SCRIPT_PATH, name="api_docs_script", include_in_schema=False, sync_to_thread=False)
        def redoc_script() -> Response[bytes]:
            return Response(
                bundle,
                media_type="text/javascript",
                headers={"Cache-Control": "public, max-age=31536000, immutable"},
            )

        router.register(redoc_script)


def api_docs_plugins() -> list[OpenAPIRenderPlugin]:
    """The page at `/schema` (and `/schema/redoc`) and the YAML document; Litestar adds the JSON
    one."""
    return [ShippedRedocRenderPlugin(), YamlRenderPlugin()]


def api_docs_router() -> Router:
    """The router Litestar fills with the documentation routes; every answer gets the CSP."""
    return Router(
        path="/schema", route_handlers=[], include_in_schema=False, response_headers=_HEADERS
    )
