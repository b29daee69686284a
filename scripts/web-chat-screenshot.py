"""Regenerate docs/web-chat.png, the README's picture of the web chat page
(`make web-chat-screenshot`).

Runs `chatservice serve` (SQLite in a temporary directory, the fake model, a tiny context window so
that an old exchange is erased) and drives the page in Debian's Chromium with Playwright, as a
person would: token, user id, a few messages.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from playwright.async_api import async_playwright, expect

OUTPUT = Path(__file__).resolve().parent.parent / "docs" / "web-chat.png"
CHROMIUM = os.environ.get("CHATSERVICE_TEST_CHROMIUM", "/usr/bin/chromium")
TOKEN = "screenshot-token"
OLDER_CHATS = ["Plan a weekend in Lisbon", "What is a token, exactly?"]
MESSAGES = [
    "Why does a chat need a context window? Could the model not simply read the whole "
    "conversation every time, however long it has grown over the months?",
    "So the oldest exchange is erased first when the window is full. Is it deleted for good, "
    "or only left out of what the model is sent?",
    "And the system message: can it ever be erased to make room for a very long "
    "conversation, or does it always stay in the window?",
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_service(directory: Path) -> tuple[subprocess.Popen[bytes], str]:
    http_port = free_port()
    env = {
        **os.environ,
        "CHATSERVICE_DATABASE_URL": f"sqlite+aiosqlite:///{directory / 'chatservice.db'}",
        "CHATSERVICE_AUTH_TOKENS": TOKEN,
        "CHATSERVICE_CONTEXT_WINDOW": "280",
        "CHATSERVICE_MAX_COMPLETION_TOKENS": "80",
        "CHATSERVICE_HTTP_PORT": str(http_port),
        "CHATSERVICE_GRPC_PORT": str(free_port()),
    }
    chatservice = Path(sys.executable).parent / "chatservice"
    process = subprocess.Popen(
        [str(chatservice), "serve"],
        cwd=directory,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{http_port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz").status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.1)
    process.terminate()
    raise SystemExit("chatservice serve did not start")


async def take(url: str) -> None:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"],
        )
        page = await browser.new_page(viewport={"width": 1280, "height": 960}, color_scheme="light")
        await page.goto(f"{url}/")
        await page.get_by_label("Token", exact=True).fill(TOKEN)
        await page.get_by_label("User id", exact=True).fill("ada")
        await page.get_by_role("button", name="Connect", exact=True).click()
        send = page.get_by_role("button", name="Send", exact=True)
        message = page.get_by_label("Message", exact=True)
        for text in OLDER_CHATS:
            await page.get_by_role("button", name="New chat", exact=True).click()
            await message.fill(text)
            await message.press("Enter")
            await expect(send).to_be_enabled()
        await page.get_by_role("button", name="New chat", exact=True).click()
        for text in MESSAGES:
            await message.fill(text)
            await message.press("Enter")
            await expect(send).to_be_enabled()
        await expect(page.locator(".msg.erased").first).to_be_visible()
        await message.fill("Thanks! One more question")
        await page.screenshot(path=OUTPUT)
        await browser.close()


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        process, url = start_service(Path(directory))
        try:
            asyncio.run(take(url))
        finally:
            process.terminate()
            process.wait(timeout=30)
    print(f"wrote {OUTPUT} ({OUTPUT.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
