"""`GET /` and its files: served from the package, open without a token, self-contained."""

from __future__ import annotations

import re

from support.http import Api


async def test_the_page_and_its_files_are_open_without_a_token(api: Api) -> None:
    page = await api.client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    for path, media_type in [
        ("/static/app.js", "text/javascript; charset=utf-8"),
        ("/static/style.css", "text/css; charset=utf-8"),
    ]:
        asset = await api.client.get(path)
        assert asset.status_code == 200, path
        assert asset.headers["content-type"] == media_type
        assert f'"{path}"' in page.text


async def test_an_unknown_static_file_is_a_404_in_the_error_format(api: Api) -> None:
    for path in ["/static/nothing.js", "/static/..%2Fweb.py", "/static/index.html"]:
        response = await api.client.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "not_found"


async def test_the_page_loads_nothing_from_elsewhere_and_never_inserts_html(api: Api) -> None:
    files = [(await api.client.get(p)).text for p in ["/", "/static/app.js", "/static/style.css"]]
    for text in files:
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.IGNORECASE)
        assert "@import" not in text
    script = files[1]
    for sink in ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("]:
        assert sink not in script, sink


async def test_the_page_is_not_part_of_the_api_document(api: Api) -> None:
    paths = (await api.client.get("/schema/openapi.json")).json()["paths"]
    assert "/" not in paths
    assert not [p for p in paths if p.startswith("/static")]
