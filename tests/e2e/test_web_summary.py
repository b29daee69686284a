"""The web chat page shows a chat's summary of its erased messages above them: headless
Chromium, driven by Playwright, on the app behind a real uvicorn server."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from support.browser import OpenPage
from support.http import LiveApiFactory, unique_user

#: A window a few exchanges fill, new chats keeping a summary of what it erases.
SETTINGS = {
    "context_window": 200,
    "max_completion_tokens": 40,
    "system_message": "Be brief.",
    "default_memory": "summary",
}


async def test_the_summary_stands_above_the_faded_out_of_context_messages(
    open_sqlite_api: LiveApiFactory, open_page: OpenPage, request: pytest.FixtureRequest
) -> None:
    user = unique_user("web", request)
    async with open_sqlite_api(**SETTINGS) as live:
        chat = await open_page(live)
        await chat.connect(user)
        for n in range(6):
            await chat.say(f"question {n}")
            await expect(chat.messages("assistant")).to_have_count(n + 1)
            await chat.reply_finished()
        await live.container.background_work().drain(grace_seconds=30)

        # The summary is written after the turn that erased: the page shows it when it next
        # reads the chat.
        await chat.page.reload()
        await chat.sidebar.get_by_role("button", name="question 0").click()
        await expect(chat.messages("user")).to_have_count(6)
        summary = chat.messages("summary")
        await expect(summary).to_have_count(1)
        async with live.client() as http:
            [listed] = (await http.get(f"/v1/users/{user}/chats")).json()["items"]
            stored = (await http.get(f"/v1/users/{user}/chats/{listed['id']}")).json()
        expected = stored["summary"]
        await expect(summary.locator(".text")).to_have_text(expected["content"])
        await expect(summary.locator(".tokens")).to_have_text(f"{expected['tokens']} tokens")
        erased = [m for m in stored["messages"] if m["erased"]]
        assert erased
        await expect(chat.conversation.locator(".msg.erased")).to_have_count(len(erased))
        # Right after the system message, and above every faded, out-of-context message.
        classes = await chat.conversation.locator(".msg").evaluate_all(
            "items => items.map(item => item.className)"
        )
        assert "system" in classes[0] and "summary" in classes[1]
        assert all("erased" in c for c in classes[2 : 2 + len(erased)])
        assert not any("erased" in c for c in classes[2 + len(erased) :])
        for n in range(len(erased) // 2):
            await expect(summary).to_contain_text(f"question {n}")
        assert chat.page_errors == []
