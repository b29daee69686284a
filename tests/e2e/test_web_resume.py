"""A reply still being written when the web chat page reloads, or loses its connection, goes on
where it was, in headless Chromium.

The page sends every message as a background turn and keeps the running one in
`sessionStorage`; after a reload it asks for the turn's events after the last one it drew
(`Last-Event-ID`). The fake model is held mid-reply (`FakeChatGateway.hold`), so the reload
happens at a known point of the reply however fast the machine is.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from playwright.async_api import Request, expect

from chatservice.adapters.fake_gateway import FakeChatGateway
from support.browser import OpenPage, WebChat
from support.containers import provided
from support.http import LiveApi, LiveApiFactory, unique_user
from support.tcp_proxy import tcp_proxy

QUESTION = "Tell me a story that takes a while"


def gateway(live: LiveApi) -> FakeChatGateway:
    return provided(live.container.gateway, FakeChatGateway)


def last_event_ids(chat: WebChat) -> list[str | None]:
    """The `Last-Event-ID` of every request the page makes for a turn's events, as it makes
    them."""
    asked: list[str | None] = []

    def record(request: Request) -> None:
        if request.url.endswith("/events"):
            asked.append(request.headers.get("last-event-id"))

    chat.page.on("request", record)
    return asked


async def stored_exchanges(live: LiveApi, user: str) -> list[dict[str, Any]]:
    async with live.client() as http:
        [summary] = (await http.get(f"/v1/users/{user}/chats")).json()["items"]
        chat = (await http.get(f"/v1/users/{user}/chats/{summary['id']}")).json()
        return [m for m in chat["messages"] if m["role"] != "system"]


async def test_a_reply_being_written_when_the_page_reloads_goes_on_where_it_was(
    open_sqlite_api: LiveApiFactory, open_page: OpenPage, request: pytest.FixtureRequest
) -> None:
    user = unique_user("resume", request)
    async with open_sqlite_api() as live:
        chat = await open_page(live)
        await chat.connect(user)
        hold = gateway(live).hold(after_chunks=3)
        await chat.message.fill(QUESTION)
        await chat.message.press("Enter")
        await hold.reached()
        await expect(chat.streaming_reply).to_contain_text('You said: "Tell')
        drawn = await chat.streaming_text()
        asked = last_event_ids(chat)

        await chat.page.reload()
        # The page signs in again from the tab's storage, opens the chat and shows the reply as
        # far as it had come, before any new event.
        await expect(chat.streaming_reply).to_have_text(drawn or "")
        await expect(chat.messages("user")).to_have_count(1)
        await expect(chat.messages("user")).to_contain_text(QUESTION)
        await expect(chat.stop_button).to_be_visible()
        assert asked == ["3"]  # the events after the three it had drawn

        hold.release()
        await chat.reply_finished()
        await expect(chat.messages("assistant")).to_have_count(1)
        stored = await stored_exchanges(live, user)
        assert [m["role"] for m in stored] == ["user", "assistant"]
        await expect(chat.messages("assistant")).to_contain_text(stored[1]["content"][:40])
        shown = await chat.page.evaluate(
            "() => document.querySelector('.msg.assistant .text').textContent"
        )
        assert " ".join(shown.split()) == " ".join(stored[1]["content"].split())
        assert len(gateway(live).requests) == 1  # one turn, never started again
        assert gateway(live).abandoned == 0  # the reload cancelled nothing
        assert await chat.page.evaluate("() => sessionStorage.getItem('chatservice.turn')") is None


async def test_a_dropped_connection_picks_the_reply_up_where_it_was(
    open_sqlite_api: LiveApiFactory, open_page: OpenPage, request: pytest.FixtureRequest
) -> None:
    user = unique_user("resume", request)
    async with open_sqlite_api() as live:
        port = int(live.url.rsplit(":", 1)[1])
        async with tcp_proxy("127.0.0.1", port) as proxy:
            # The page reaches the service through a proxy the test can cut.
            chat = await open_page(replace(live, url=f"http://127.0.0.1:{proxy.port}"))
            await chat.connect(user)
            hold = gateway(live).hold(after_chunks=2)
            await chat.message.fill(QUESTION)
            await chat.message.press("Enter")
            await hold.reached()
            await expect(chat.streaming_reply).to_contain_text("You said:")
            asked = last_event_ids(chat)

            await proxy.cut()
            await expect(chat.notice).to_contain_text("connection dropped")
            await proxy.restore()
            hold.release()
            await chat.reply_finished()
            stored = await stored_exchanges(live, user)
            await expect(chat.messages("assistant")).to_have_count(1)
            await expect(chat.messages("assistant")).to_contain_text(stored[1]["content"][:40])
            assert asked and set(asked) == {"2"}  # picked up after the two deltas it had
            assert gateway(live).abandoned == 0
            await expect(chat.alert).to_be_hidden()
