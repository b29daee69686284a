"""Conversation control on the web chat page, in headless Chromium: Regenerate on the last reply
(stopped mid-stream first: nothing stored), Edit on the last question, Fork from any message,
superseded versions folded under the current one, and the context gauge from the chat's window;
on a desktop screen and on a 390 px phone."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Locator, expect

from chatservice.adapters.fake_gateway import FakeChatGateway
from support.browser import OpenPage, WebChat
from support.containers import provided
from support.http import LiveApi, LiveApiFactory, unique_user
from support.waiting import eventually


def gateway(live: LiveApi) -> FakeChatGateway:
    return provided(live.container.gateway, FakeChatGateway)


async def stored_chats(live: LiveApi, user: str) -> list[dict[str, Any]]:
    """The user's chats, oldest first, each with every message, as the API gives them."""
    async with live.client() as http:
        items = (await http.get(f"/v1/users/{user}/chats")).json()["items"]
        return [
            (await http.get(f"/v1/users/{user}/chats/{item['id']}")).json()
            for item in reversed(items)
        ]


def shown(messages: list[dict[str, Any]]) -> list[tuple[str, str, bool]]:
    return [(m["role"], m["content"], m["superseded"]) for m in messages if m["role"] != "system"]


def button(scope: Locator, name: str) -> Locator:
    return scope.get_by_role("button", name=name, exact=True)


async def gauge_matches(chat: WebChat, window: dict[str, int]) -> None:
    """The gauge in the chat's header shows the stored chat's window."""
    room = window["limit"] - window["reserve"]
    gauge = chat.page.get_by_role("meter", name="Context")
    await expect(gauge).to_be_visible()
    await expect(gauge).to_have_attribute("max", str(room))
    value = await gauge.evaluate("(meter) => meter.value")
    assert value == window["used"] > 0
    await expect(chat.page.locator("#context-text")).to_contain_text(
        f"{window['used']:,} / {room:,} tokens"
    )


async def test_regenerate_edit_and_fork_from_the_page(
    open_sqlite_api: LiveApiFactory, open_page: OpenPage, request: pytest.FixtureRequest
) -> None:
    user = unique_user("control", request)
    async with open_sqlite_api() as live:
        chat = await open_page(live)
        await chat.connect(user)
        await chat.say("first question")
        await chat.say("second question")
        [stored] = await stored_chats(live, user)
        await gauge_matches(chat, stored["window"])
        replies, questions = chat.messages("assistant"), chat.messages("user")
        # Only the last reply regenerates and only the last question edits; all fork.
        await expect(button(chat.conversation, "Regenerate")).to_have_count(1)
        await expect(button(replies.last, "Regenerate")).to_be_visible()
        await expect(button(chat.conversation, "Edit")).to_have_count(1)
        await expect(button(questions.last, "Edit")).to_be_visible()
        await expect(button(chat.conversation, "Fork")).to_have_count(4)

        # A regenerate stopped mid-stream stores nothing: the old reply stays current.
        hold = gateway(live).hold(after_chunks=3)
        await button(replies.last, "Regenerate").click()
        await hold.reached()
        await expect(chat.streaming_reply).to_contain_text("You said")
        await expect(chat.messages("user")).to_have_count(2)  # no question of its own
        await chat.stop_button.click()
        await expect(chat.conversation.locator(".msg.stopped")).to_contain_text("not stored")
        await eventually(lambda: gateway(live).abandoned == 1, "the stopped turn cancelled")
        hold.release()
        [after_stop] = await stored_chats(live, user)
        assert shown(after_stop["messages"]) == shown(stored["messages"])
        assert after_stop["version"] == stored["version"]

        # Regenerate: a new reply, the old one folded under it. (The stopped reply, last on the
        # page until then, offers nothing.)
        await button(chat.conversation, "Regenerate").click()
        await chat.reply_finished()
        await expect(chat.conversation.locator(".stopped")).to_have_count(0)
        [regenerated] = await stored_chats(live, user)
        assert [m["superseded"] for m in regenerated["messages"]] == [False] * 4 + [True, False]
        current = chat.conversation.locator(":scope > .msg.assistant").last
        versions = current.locator("details.versions")
        await expect(versions.locator("summary")).to_have_text("1 earlier version")
        await expect(versions.locator(".msg.superseded")).to_be_hidden()
        await versions.locator("summary").click()
        await expect(versions.locator(".msg.superseded")).to_contain_text("superseded")
        await expect(chat.conversation.locator(":scope > .msg")).to_have_count(5)

        # Edit: the last question goes into the composer; Send replaces it and its reply.
        await button(chat.conversation.locator(":scope > .msg.user").last, "Edit").click()
        await expect(chat.message).to_have_value("second question")
        await expect(chat.page.get_by_text("Editing your last message")).to_be_visible()
        await chat.say("second question, edited")
        await expect(chat.page.get_by_text("Editing your last message")).to_be_hidden()
        [edited] = await stored_chats(live, user)
        assert shown(edited["messages"])[2:] == [
            ("user", "second question", True),
            *[("assistant", m["content"], True) for m in regenerated["messages"][4:6]],
            ("user", "second question, edited", False),
            ("assistant", edited["messages"][-1]["content"], False),
        ]
        question = chat.conversation.locator(":scope > .msg.user").last
        await expect(question.locator(".text").first).to_have_text("second question, edited")
        await expect(question.locator("details.versions summary")).to_have_text(
            "3 earlier versions"
        )
        await gauge_matches(chat, edited["window"])

        # Fork from the first reply: a new chat with the exchange up to it, opened at once.
        first_reply = chat.conversation.locator(":scope > .msg.assistant").first
        await button(first_reply, "Fork").click()
        await expect(chat.notice).to_contain_text("Forked")
        await expect(chat.conversation.locator(":scope > .msg")).to_have_count(3)
        original, fork = await stored_chats(live, user)
        assert original == edited | {"window": original["window"]}
        assert fork["forked_from"] == {
            "chat_id": original["id"],
            "message_id": original["messages"][2]["id"],
        }
        assert shown(fork["messages"]) == shown(original["messages"])[:2]
        await gauge_matches(chat, fork["window"])
        await expect(chat.sidebar.get_by_role("listitem")).to_have_count(2)
        await chat.say("carrying on in the fork")
        [_, fork_after] = await stored_chats(live, user)
        assert shown(fork_after["messages"])[-2][1] == "carrying on in the fork"


async def test_on_a_390_px_phone_the_actions_versions_and_gauge_stay_on_the_screen(
    open_sqlite_api: LiveApiFactory, open_page: OpenPage, request: pytest.FixtureRequest
) -> None:
    width = 390
    async with open_sqlite_api() as live:
        chat = await open_page(live, width=width, height=844)
        await chat.connect(unique_user("control-phone", request))
        await chat.say("a question on a phone " + "with-a-long-unbroken-word-" * 6)
        await button(chat.messages("assistant").last, "Regenerate").click()
        await chat.reply_finished()
        versions = chat.conversation.locator("details.versions")
        await versions.locator("summary").click()
        await expect(versions.locator(".msg.superseded")).to_be_visible()

        scroll_width = await chat.page.evaluate("() => document.documentElement.scrollWidth")
        assert scroll_width <= width
        gauge = chat.page.get_by_role("meter", name="Context")
        current = chat.conversation.locator(":scope > .msg")
        controls = [
            gauge,
            chat.page.locator("#context-text"),
            button(current.last, "Regenerate"),
            button(current.last, "Fork"),
            button(current.nth(-2), "Edit"),
            versions.locator(".msg.superseded"),
            chat.message,
            chat.send_button,
        ]
        for control in controls:
            await expect(control).to_be_visible()
            box = await control.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width


async def test_a_regenerate_being_written_when_the_page_reloads_goes_on_where_it_was(
    open_sqlite_api: LiveApiFactory, open_page: OpenPage, request: pytest.FixtureRequest
) -> None:
    user = unique_user("control-resume", request)
    async with open_sqlite_api() as live:
        chat = await open_page(live)
        await chat.connect(user)
        await chat.say("a question to answer twice")
        hold = gateway(live).hold(after_chunks=3)
        await button(chat.conversation, "Regenerate").click()
        await hold.reached()
        await expect(chat.streaming_reply).to_contain_text("You said")
        drawn = await chat.streaming_text()

        await chat.page.reload()
        await expect(chat.streaming_reply).to_have_text(drawn or "")
        # The regenerate brings no question of its own, after the reload as before it.
        await expect(chat.conversation.locator(":scope > .msg.user")).to_have_count(1)
        await expect(chat.stop_button).to_be_visible()
        hold.release()
        await chat.reply_finished()
        [stored] = await stored_chats(live, user)
        assert [m["superseded"] for m in stored["messages"]] == [False, False, True, False]
        await expect(chat.conversation.locator(":scope > .msg")).to_have_count(3)
        await expect(chat.conversation.locator("details.versions summary")).to_have_text(
            "1 earlier version"
        )
