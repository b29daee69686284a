"""`GET /` and its files: served from the package, open without a token, self-contained."""

from __future__ import annotations

import re

from support.http import Api
from support.web_files import OWN_SCRIPTS, VENDORED


async def test_the_page_and_its_files_are_open_without_a_token(api: Api) -> None:
    page = await api.client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self';" in policy
    assert "unsafe" not in policy
    assert "require-trusted-types-for 'script'; trusted-types dompurify" in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    assert '"/static/app.js"' in page.text and '"/static/style.css"' in page.text
    for path in [*OWN_SCRIPTS, *VENDORED, "/static/style.css"]:
        asset = await api.client.get(path)
        assert asset.status_code == 200, path
        media_type = "text/css" if path.endswith(".css") else "text/javascript"
        assert asset.headers["content-type"] == f"{media_type}; charset=utf-8"
        assert asset.headers["content-security-policy"] == policy


async def test_the_scripts_import_one_another_by_the_paths_they_are_served_at(api: Api) -> None:
    imports = {
        path: re.findall(r'^import .* from "\./(.+)";$', (await api.client.get(path)).text, re.M)
        for path in OWN_SCRIPTS
    }
    assert imports == {
        "/static/app.js": [
            "chats.js",
            "composer.js",
            "errors.js",
            "page.js",
            "transcript.js",
            "turns.js",
        ],
        "/static/page.js": ["api.js"],
        "/static/errors.js": ["api.js", "page.js"],
        "/static/transcript.js": ["control.js", "markdown.js", "page.js"],
        "/static/chats.js": ["errors.js", "page.js", "transcript.js"],
        "/static/composer.js": [
            "api.js",
            "chats.js",
            "errors.js",
            "page.js",
            "transcript.js",
            "turns.js",
        ],
        "/static/turns.js": ["api.js", "errors.js", "page.js", "transcript.js"],
        "/static/api.js": [],
        "/static/control.js": [],
        "/static/markdown.js": ["vendor/dompurify/purify.es.mjs", "vendor/marked/marked.esm.js"],
    }


async def test_a_file_the_browser_holds_is_revalidated_without_being_sent_again(api: Api) -> None:
    for path in ["/", "/static/markdown.js", VENDORED[0]]:
        first = await api.client.get(path)
        etag = first.headers["etag"]
        again = await api.client.get(path, headers={"If-None-Match": etag})
        assert again.status_code == 304, path
        assert again.content == b""
        assert again.headers["etag"] == etag
        changed = await api.client.get(path, headers={"If-None-Match": '"something else"'})
        assert changed.status_code == 200
        assert changed.content == first.content


async def test_an_unknown_static_file_is_a_404_in_the_error_format(api: Api) -> None:
    for path in [
        "/static/nothing.js",
        "/static/..%2Fweb.py",
        "/static/index.html",
        "/static/vendor/marked/LICENSE",
    ]:
        response = await api.client.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "not_found"


async def test_the_page_loads_nothing_from_elsewhere_and_never_inserts_html(api: Api) -> None:
    own = ["/", *OWN_SCRIPTS, "/static/style.css"]
    files = {path: (await api.client.get(path)).text for path in own}
    for text in files.values():
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.IGNORECASE)
        assert "@import" not in text
    for path in OWN_SCRIPTS:
        for sink in ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("]:
            assert sink not in files[path], (path, sink)


async def test_the_vendored_libraries_run_no_code_made_from_strings(api: Api) -> None:
    # The CSP has no 'unsafe-eval': a library that needed it would break the page.
    for path in VENDORED:
        script = (await api.client.get(path)).text
        assert not re.search(r"\beval\(|\bFunction\(", script), path


async def test_the_page_is_not_part_of_the_api_document(api: Api) -> None:
    paths = (await api.client.get("/schema/openapi.json")).json()["paths"]
    assert "/" not in paths
    assert not [p for p in paths if p.startswith("/static")]
