"""`GET /schema`: the API reference page runs only what this service serves, shipped in the package.

The page itself is checked in a browser by tests/e2e/test_api_docs.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from html.parser import HTMLParser
from importlib.resources import files

import pytest

from support.http import Api, api_factory

VENDORED_REDOC = files("chatservice.entrypoints.http") / "static" / "vendor" / "redoc"


class _Page(HTMLParser):
    """The page's scripts (their `src`, and any inline code) and every URL it refers to."""

    def __init__(self) -> None:
        super().__init__()
        self.script_sources: list[str | None] = []
        self.inline_code: list[str] = []
        self.urls: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.urls += [v for k, v in attrs if k in ("src", "href", "spec-url") and v]
        if tag == "script":
            self.script_sources.append(found.get("src"))
            self._in_script = True

    def handle_endtag(self, tag: str) -> None:
        self._in_script = self._in_script and tag != "script"

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_code.append(data)


@pytest.fixture
async def api(sqlite_database_url: str) -> AsyncIterator[Api]:
    async with api_factory(sqlite_database_url)() as opened:
        yield opened


async def parsed(api: Api, path: str) -> tuple[_Page, dict[str, str]]:
    response = await api.client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    page = _Page()
    page.feed(response.text)
    return page, dict(response.headers)


async def test_the_page_runs_only_scripts_from_this_service_and_they_are_served(api: Api) -> None:
    page, _ = await parsed(api, "/schema")
    assert page.inline_code == []
    assert page.script_sources, "Redoc's script"
    for source in page.script_sources:
        assert source is not None and source.startswith("/") and not source.startswith("//")
        script = await api.client.get(source)
        assert script.status_code == 200, source
        assert script.headers["content-type"] == "text/javascript; charset=utf-8"
        assert script.content == (VENDORED_REDOC / "redoc.standalone.js").read_bytes()
    # The icon is an empty data: URL, so that the browser asks nobody for one.
    assert all(url.startswith(("/", "data:")) and not url.startswith("//") for url in page.urls)


async def test_the_page_reads_the_openapi_document_of_this_service(api: Api) -> None:
    page, _ = await parsed(api, "/schema")
    assert "/schema/openapi.json" in page.urls
    assert (await api.client.get("/schema/openapi.json")).json()["info"]["title"] == "chatservice"
    assert (await api.client.get("/schema/openapi.yaml")).status_code == 200
    assert (await api.client.get("/schema/redoc")).text == (await api.client.get("/schema")).text


async def test_the_page_lets_the_browser_run_nothing_from_elsewhere(api: Api) -> None:
    _, headers = await parsed(api, "/schema")
    directives = headers["content-security-policy"].split(";")
    policy = dict(directive.strip().split(" ", 1) for directive in directives)
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == "'self'"
    assert policy["connect-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert headers["x-content-type-options"] == "nosniff"


async def test_the_pages_that_loaded_their_scripts_from_cdns_are_gone(api: Api) -> None:
    for path in ["/schema/swagger", "/schema/elements", "/schema/rapidoc"]:
        assert (await api.client.get(path)).status_code == 404, path


async def test_the_docs_routes_are_not_part_of_the_api_document(api: Api) -> None:
    paths = (await api.client.get("/schema/openapi.json")).json()["paths"]
    assert not [p for p in paths if p.startswith("/schema")]


def test_the_vendored_files_name_their_version_and_licence() -> None:
    version = (VENDORED_REDOC / "VERSION").read_text().strip()
    notices = (VENDORED_REDOC / "redoc.standalone.js.LICENSE.txt").read_text()
    assert f'Version: "{version}"' in notices
    assert "MIT License" in (VENDORED_REDOC / "LICENSE").read_text()
