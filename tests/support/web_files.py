"""The web chat page's scripts as its tests name them. Its own are read from the package, so a
script split off from another is served, checked and expected to load without a list to update
in each test that names them."""

from __future__ import annotations

from importlib.resources import files

_STATIC = files("chatservice.entrypoints.http") / "static"

#: The page's own scripts (none of them may turn a string into HTML), by the paths served.
OWN_SCRIPTS = sorted(
    f"/static/{script.name}" for script in _STATIC.iterdir() if script.name.endswith(".js")
)
#: The libraries vendored by scripts/vendor-frontend, as the page imports them.
VENDORED = ["/static/vendor/marked/marked.esm.js", "/static/vendor/dompurify/purify.es.mjs"]
