"""Stopping a reply on the web chat page, in headless Chromium: the fetch is aborted, the service
cancels the turn and stores nothing, and the chat takes the next message.

The fake model is held mid-reply (`FakeChatGateway.hold`), so the reply is stopped at a known point
however fast the machine is; the service's cancellation is seen in `FakeChatGateway.abandoned`.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import expect

from chatservice.adapters.fake_gateway import FakeChatGateway, StreamHold
from support.browser import OpenPage, WebChat
from support.containers import provided
from support.http import LiveApi, LiveApiFactory, unique_user
from support.waiting import eventually


def gateway(live: LiveApi) -> FakeChatGateway:
    return provided(live.container.gateway, FakeChatGateway)


async def reply_held_mid_way(live: LiveApi, chat: WebChat, question: str) -> StreamHold:
    """Send `question` and return once its reply is on the page, the model held mid-way."""
    hold = gateway(live).hold(after_chunks=3)
    await chat.message.fill(question)
    await chat.message.press("Enter")
    await hold.reached()
    await expect(chat.streaming_reply).to_contain_text("You said")
    await expect(chat.stop_button).to_be_visible()
    await expect(chat.send_button).to_be_disabled()
    return hold


async def stored_chat(live: LiveApi, user: str) -> dict[str, Any]:
    """The user's one chat as the API gives it."""
    async with live.client() as http:
        [summary] = (await http.get(f"/v1/users/{user}/chats")).json()["items"]
        chat: dict[str, Any] = (await http.get(f"/v1/users/{user}/chats/{summary['id']}")).json()
        return chat


def exchanges(chat: dict[str, Any]) -> list[tuple[str, str]]:
    return [(m["role"], m["content"]) for m in chat["messages"] if m["role"] != "system"]


async def shown_as_stopped(chat: WebChat, question: str) -> None:
    """The stopped exchange is on the page, marked, and the page is ready for the next message."""
    await expect(chat.stop_button).to_be_hidden()
    await expect(chat.send_button).to_be_enabled()
    await expect(chat.message).to_be_enabled()
    await expect(chat.message).to_have_value(question)
    await expect(chat.conversation.locator(".streaming")).to_have_count(0)
    stopped = chat.conversation.locator(".msg.stopped")
    await expect(stopped).to_have_count(2)
    await expect(stopped.first).to_contain_text("not stored")
    await expect(stopped.last).to_contain_text("stopped · not stored")
    await expect(stopped.last.locator(".text")).to_contain_text("You said")
    await expect(chat.alert).to_be_hidden()


async def test_stopping_a_reply_mid_stream_stores_nothing_and_the_next_message_goes_through(
    open_sqlite_api: LiveApiFactory, open_page: OpenPage, request: pytest.FixtureRequest
) -> None:
    user = unique_user("stop", request)
    async with open_sqlite_api() as live:
        chat = await open_page(live)
        await chat.connect(user)
        hold = await reply_held_mid_way(live, chat, "Tell me everything about tokens")
        await chat.stop_button.click()
        await shown_as_stopped(chat, "Tell me everything about tokens")

        # The next message at once, while the service may still be cancelling the stopped turn:
        # the page sends it as soon as the chat is free. (The model is still held: the new reply
        # stops there too, so what reaches the hold after the cancellation is the new turn.)
        await chat.message.fill("Just the short version")
        await chat.message.press("Enter")
        await eventually(lambda: gateway(live).abandoned == 1, "the stopped turn cancelled")
        await hold.reached()
        hold.release()
        await chat.reply_finished()
        await expect(chat.messages("assistant").last).to_contain_text(
            'You said: "Just the short version"'
        )
        await expect(chat.conversation.locator(".stopped")).to_have_count(0)
        await expect(chat.alert).to_be_hidden()
        await expect(chat.notice).to_be_empty()

        stored = exchanges(await stored_chat(live, user))
        assert [role for role, _ in stored] == ["user", "assistant"]
        assert stored[0][1] == "Just the short version"


async def test_a_message_sent_while_the_chat_is_still_busy_after_a_stop_waits_until_it_is_free(
    open_sqlite_api: LiveApiFactory, open_page: OpenPage, request: pytest.FixtureRequest
) -> None:
    user = unique_user("stop", request)
    async with open_sqlite_api() as live:
        chat = await open_page(live)
        await chat.connect(user)
        hold = await reply_held_mid_way(live, chat, "A question I will take back")
        # Escape stops the reply too.
        await chat.message.press("Escape")
        await shown_as_stopped(chat, "A question I will take back")
        await eventually(lambda: gateway(live).abandoned == 1, "the stopped turn cancelled")
        stored = await stored_chat(live, user)
        assert exchanges(stored) == []

        # The chat is busy again (another client's turn, held mid-reply) when the page sends: the
        # 409 is taken for the stopped turn's cancellation, and the page waits for the chat.
        async with live.turn_streaming(user, stored["id"], "from elsewhere") as elsewhere:
            await hold.reached()
            await chat.message.fill("Sent while the chat was busy")
            await chat.message.press("Enter")
            await expect(chat.notice).to_contain_text("sending as soon as the chat is free")
            await expect(chat.stop_button).to_be_visible()
            await expect(chat.alert).to_be_hidden()
            hold.release()
            async for _ in elsewhere:
                pass

        await chat.reply_finished()
        await expect(chat.notice).to_be_empty()
        await expect(chat.alert).to_be_hidden()
        await expect(chat.messages("assistant").last).to_contain_text(
            'You said: "Sent while the chat was busy"'
        )
        stored_after = exchanges(await stored_chat(live, user))
        assert [role for role, _ in stored_after] == ["user", "assistant"] * 2
        assert [text for role, text in stored_after if role == "user"] == [
            "from elsewhere",
            "Sent while the chat was busy",
        ]
