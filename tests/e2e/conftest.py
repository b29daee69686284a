from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import pytest
from playwright.async_api import Browser, expect

from support.browser import OpenPage, WebChat, chromium, missing_chromium, web_chat
from support.http import LiveApi, LiveApiFactory, live_api_factory
from support.waiting import GENEROUS_SECONDS

# Playwright's assertions wait for what they expect up to this long (5 s by default, which a
# page on a busy machine can miss).
expect.set_options(timeout=GENEROUS_SECONDS * 1000)


@pytest.fixture
def open_live_api(database_url: str) -> LiveApiFactory:
    """The app behind a real uvicorn server in the test's event loop, on each database."""
    return live_api_factory(database_url)


@pytest.fixture
def open_sqlite_api(sqlite_database_url: str) -> LiveApiFactory:
    """The same on SQLite only, for the browser tests that are about the page, not the storage."""
    return live_api_factory(sqlite_database_url)


@pytest.fixture
def chromium_installed() -> None:
    # A missing browser fails the test, never skips it: CI installs it (scripts/ensure-chromium).
    if reason := missing_chromium():
        pytest.fail(reason, pytrace=False)


@pytest.fixture
async def browser(chromium_installed: None) -> AsyncIterator[Browser]:
    async with chromium() as opened:
        yield opened


@pytest.fixture
async def open_page(browser: Browser) -> AsyncIterator[OpenPage]:
    """Open the web chat page of a live service, each in a fresh browser context (`width` and
    `height` its viewport, `options` as Playwright's `new_context` takes them)."""
    async with AsyncExitStack() as pages:

        async def open_page(
            live: LiveApi, width: int = 1200, height: int = 800, **options: Any
        ) -> WebChat:
            return await pages.enter_async_context(
                web_chat(browser, f"{live.url}/", width, height, **options)
            )

        yield open_page
