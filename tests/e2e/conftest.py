from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, expect

from support.browser import chromium, missing_chromium
from support.http import LiveApiFactory, live_api_factory
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
