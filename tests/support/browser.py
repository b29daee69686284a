"""Headless Chromium for the web chat's end-to-end tests: Debian's `chromium`, driven by
Playwright. Never a browser that Playwright downloads: `scripts/ensure-chromium` installs it."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from playwright.async_api import Browser, async_playwright

#: The browser the tests drive; `CHATSERVICE_TEST_CHROMIUM` points elsewhere.
CHROMIUM = Path(os.environ.get("CHATSERVICE_TEST_CHROMIUM", "/usr/bin/chromium"))

#: Headless, sandbox-less (tests run as root in CI), and quiet: nothing reaches the network.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def missing_chromium() -> str | None:
    """Why the tests cannot run a browser, or `None` when they can."""
    if CHROMIUM.is_file():
        return None
    return (
        f"no Chromium at {CHROMIUM}: run scripts/ensure-chromium (or `make test`), "
        "or set CHATSERVICE_TEST_CHROMIUM"
    )


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            await browser.close()
