"""Headless Chromium for the web pages' end-to-end tests: Debian's `chromium`, driven by
Playwright. Never a browser that Playwright downloads: `scripts/ensure-chromium` installs it.
`WebChat` is the web chat page as its tests use it."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from playwright.async_api import Browser, Locator, Page, async_playwright, expect

from support.http import TOKEN, LiveApi

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


@dataclass
class WebChat:
    """The web chat page as a person uses it, found the way assistive technology finds it: by the
    labels `Token`, `User id`, `Message`, `Send`, `Stop` and `New chat`."""

    page: Page
    url: str
    #: Uncaught exceptions in the page: a test fails on any.
    page_errors: list[str]

    @property
    def token(self) -> Locator:
        return self.page.get_by_label("Token", exact=True)

    @property
    def user_id(self) -> Locator:
        return self.page.get_by_label("User id", exact=True)

    @property
    def message(self) -> Locator:
        return self.page.get_by_label("Message", exact=True)

    @property
    def send_button(self) -> Locator:
        return self.page.get_by_role("button", name="Send", exact=True)

    @property
    def stop_button(self) -> Locator:
        return self.page.get_by_role("button", name="Stop", exact=True)

    @property
    def new_chat(self) -> Locator:
        return self.page.get_by_role("button", name="New chat", exact=True)

    @property
    def sidebar(self) -> Locator:
        return self.page.get_by_role("navigation", name="Chats")

    @property
    def conversation(self) -> Locator:
        return self.page.get_by_role("log", name="Conversation")

    @property
    def alert(self) -> Locator:
        return self.page.get_by_role("alert")

    @property
    def notice(self) -> Locator:
        """What the page says it is doing; hidden while it says nothing."""
        return self.page.get_by_role("status", include_hidden=True)

    def messages(self, role: str = "") -> Locator:
        return self.conversation.locator(f".msg{'.' + role if role else ''}")

    @property
    def streaming_reply(self) -> Locator:
        return self.conversation.locator(".msg.streaming .text")

    async def connect(self, user_id: str, token: str = TOKEN) -> None:
        await self.page.goto(self.url)
        await self.token.fill(token)
        await self.user_id.fill(user_id)
        await self.page.get_by_role("button", name="Connect", exact=True).click()

    async def say(self, text: str, *, with_enter: bool = True) -> None:
        """Send a message and wait until its reply is complete and the page has caught up."""
        await self.message.fill(text)
        if with_enter:
            await self.message.press("Enter")
        else:
            await self.send_button.click()
        await self.reply_finished()

    async def reply_finished(self) -> None:
        await expect(self.send_button).to_be_enabled()
        await expect(self.conversation.locator(".streaming")).to_have_count(0)

    async def streaming_text(self) -> str | None:
        """The text of the reply as it streams in, its white space collapsed (the Markdown is
        rendered: blocks leave line breaks between them); `None` when no reply is streaming."""
        text: str | None = await self.page.evaluate(
            "() => document.querySelector('.msg.streaming .text')?.textContent ?? null"
        )
        return None if text is None else " ".join(text.split())


@asynccontextmanager
async def web_chat(
    browser: Browser, url: str, width: int = 1200, height: int = 800, **options: Any
) -> AsyncIterator[WebChat]:
    """The page at `url` in a fresh browser context (`options` as Playwright's `new_context`
    takes them); the block fails if the page threw an uncaught exception."""
    context = await browser.new_context(viewport={"width": width, "height": height}, **options)
    try:
        page = await context.new_page()
        chat = WebChat(page, url, [])
        page.on("pageerror", lambda error: chat.page_errors.append(str(error)))
        yield chat
        assert chat.page_errors == []
    finally:
        await context.close()


class OpenPage(Protocol):
    """The `open_page` fixture: the page of a live service in a fresh browser context (`width`
    and `height` its viewport, `options` as Playwright's `new_context` takes them)."""

    def __call__(
        self, live: LiveApi, width: int = ..., height: int = ..., **options: Any
    ) -> Awaitable[WebChat]: ...
