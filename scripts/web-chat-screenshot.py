"""Regenerate docs/web-chat.png, the README's picture of the web chat page
(`make web-chat-screenshot`).

Runs `chatservice serve` (SQLite in a temporary directory, a tiny context window so that an old
exchange is erased) on a local OpenAI-compatible model that echoes each message verbatim (the one
the tests use, tests/support/openai_server.py), and drives the page in Debian's Chromium with
Playwright, as a person would: token, user id, a few messages, the last one holding a code block
in Markdown, which comes back in the reply and is rendered there; that reply is regenerated, so
the earlier version shows folded under it. The chat's header shows the context gauge.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
from asyncio.subprocess import Process
from pathlib import Path

import httpx
from playwright.async_api import async_playwright, expect

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "docs" / "web-chat.png"
CHROMIUM = os.environ.get("CHATSERVICE_TEST_CHROMIUM", "/usr/bin/chromium")
TOKEN = "screenshot-token"
OLDER_CHATS = ["Plan a weekend in Lisbon", "What is a token, exactly?"]
MESSAGES = [
    "Why does a chat need a context window? Could the model not simply read the whole "
    "conversation every time, however long it has grown?",
    "So the oldest exchange is erased first when the window is full: is it deleted for good?",
    "How would I count the tokens of a message **myself**? Like this?\n\n"
    "```python\n"
    "import tiktoken\n\n"
    'encoding = tiktoken.get_encoding("o200k_base")\n'
    'print(len(encoding.encode("How long is this message?")))\n'
    "```\n\n"
    "- *before* a turn, to check that it fits\n"
    "- or after it, from the reply's `usage`",
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def start_service(directory: Path, model_url: str) -> tuple[Process, str]:
    http_port = free_port()
    env = {
        **os.environ,
        "CHATSERVICE_DATABASE_URL": f"sqlite+aiosqlite:///{directory / 'chatservice.db'}",
        "CHATSERVICE_AUTH_TOKENS": TOKEN,
        "CHATSERVICE_GATEWAY": "openai",
        "CHATSERVICE_OPENAI_BASE_URL": model_url,
        "CHATSERVICE_CONTEXT_WINDOW": "280",
        "CHATSERVICE_MAX_COMPLETION_TOKENS": "100",
        "CHATSERVICE_HTTP_PORT": str(http_port),
        "CHATSERVICE_GRPC_PORT": str(free_port()),
    }
    chatservice = Path(sys.executable).parent / "chatservice"
    process = await asyncio.create_subprocess_exec(
        str(chatservice),
        "serve",
        cwd=directory,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{http_port}"
    async with httpx.AsyncClient() as http:
        for _ in range(300):
            try:
                if (await http.get(f"{url}/healthz")).status_code == 200:
                    return process, url
            except httpx.TransportError:
                await asyncio.sleep(0.1)
    process.terminate()
    raise SystemExit("chatservice serve did not start")


async def take(url: str) -> None:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"],
        )
        page = await browser.new_page(
            viewport={"width": 1280, "height": 1180}, color_scheme="light"
        )
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
        await page.get_by_role("button", name="Regenerate", exact=True).click()
        await expect(send).to_be_enabled()
        await expect(page.locator("details.versions")).to_have_count(1)
        await expect(page.locator(".msg.erased").first).to_be_visible()
        await expect(page.locator("#messages > .msg.assistant > .text pre").last).to_be_visible()
        await expect(page.get_by_role("meter", name="Context")).to_be_visible()
        await message.fill("Thanks! One more question")
        await page.screenshot(path=OUTPUT)
        await browser.close()


async def run() -> None:
    # The tests' stand-in model: real HTTP and SSE, served in this event loop.
    sys.path.insert(0, str(ROOT / "tests"))
    from support.openai_server import running_openai_server

    async with running_openai_server() as model:
        with tempfile.TemporaryDirectory() as directory:
            process, url = await start_service(Path(directory), model.base_url)
            try:
                await take(url)
            finally:
                process.terminate()
                await asyncio.wait_for(process.wait(), 30)


def main() -> None:
    asyncio.run(run())
    print(f"wrote {OUTPUT} ({OUTPUT.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
