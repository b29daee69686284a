"""The web chat page (docs/api.md) end to end: headless Chromium, driven by Playwright, on the app
behind a real uvicorn server. The page is found the way assistive technology finds it: by the
labels `Token`, `User id`, `Message`, `Send` and `New chat` (support/browser.py)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Route, expect

from chatservice.adapters.fake_gateway import FakeChatGateway, ScriptedFailure
from chatservice.domain.errors import ProviderUnavailable
from support.browser import OpenPage
from support.http import TOKEN, LiveApi, LiveApiFactory, unique_user


def gateway(live: LiveApi) -> FakeChatGateway:
    fake = live.container.gateway()
    assert isinstance(fake, FakeChatGateway)
    return fake


async def _read_only_chat(live: LiveApi, user: str) -> dict[str, Any]:
    """The user's one chat, every message included, as the API gives it."""
    async with live.client() as http:
        listed = await http.get(f"/v1/users/{user}/chats")
        assert listed.status_code == 200, listed.text
        [summary] = listed.json()["items"]
        read = await http.get(f"/v1/users/{user}/chats/{summary['id']}")
        assert read.status_code == 200, read.text
        chat: dict[str, Any] = read.json()
        return chat


async def test_a_person_chats_with_replies_streaming_in_and_finds_the_chat_after_a_reload(
    open_live_api: LiveApiFactory, open_page: OpenPage, request: pytest.FixtureRequest
) -> None:
    user = unique_user("web", request)
    async with open_live_api() as live:
        chat = await open_page(live)
        await chat.connect(user)
        await expect(chat.page.get_by_text(f"Signed in as {user}")).to_be_visible()

        # Shift+Enter is a new line, not a message; Enter sends.
        await chat.message.fill("What is a context window?")
        await chat.message.press("Shift+Enter")
        await chat.message.press_sequentially("Answer briefly.")
        assert await chat.message.input_value() == "What is a context window?\nAnswer briefly."
        await expect(chat.messages("user")).to_have_count(0)
        hold = gateway(live).hold(after_chunks=1)
        await chat.message.press("Enter")

        # The reply grows on the page while the model streams it: seen with the model held
        # after one, two and three chunks.
        await expect(chat.conversation.locator(".streaming")).to_have_count(1)
        streaming = chat.conversation.locator(".msg.streaming .text")
        seen = [""]
        for next_stop in (2, 3, None):
            await hold.reached()
            await expect(streaming).not_to_have_text(seen[-1])
            seen.append(await chat.streaming_text() or "")
            if next_stop is None:
                hold.release()
            else:
                hold.move_to(next_stop)
        await chat.reply_finished()
        shown = await chat.messages("assistant").last.locator(".text").inner_text()
        first_reply = " ".join(shown.split())
        assert first_reply.startswith('You said: "What is a context window? Answer briefly."')
        partial = [text for text in dict.fromkeys(seen) if text and text != first_reply]
        assert len(partial) >= 3, seen
        assert all(first_reply.startswith(text) for text in partial), seen

        # The second message goes with the Send button.
        await chat.say("And how are tokens counted?", with_enter=False)
        await expect(chat.messages("user")).to_have_count(2)
        await expect(chat.messages("assistant")).to_have_count(2)
        await expect(chat.messages("assistant").last).to_contain_text(
            'You said: "And how are tokens counted?"'
        )

        # Token usage: each reply's, and the chat's total, as the service counted them.
        stored = await _read_only_chat(live, user)
        total = stored["usage"]
        await expect(chat.page.locator("#chat-usage")).to_have_text(
            f"Chat total: {total['prompt_tokens']} prompt + "
            f"{total['completion_tokens']} completion tokens · ${stored['cost']}"
        )
        replies = [m for m in stored["messages"] if m["role"] == "assistant"]
        for shown, reply in zip(await chat.messages("assistant").all(), replies, strict=True):
            await expect(shown.locator(".model")).to_have_text(reply["model"])
            await expect(shown.locator(".reply-usage")).to_have_text(
                f"reply: {reply['usage']['prompt_tokens']} prompt + "
                f"{reply['usage']['completion_tokens']} completion tokens · ${reply['cost']}"
            )

        # A reload keeps the token and user (session storage) and lists the chat by its title.
        await chat.page.reload()
        await expect(chat.token).to_be_hidden()
        listed = chat.sidebar.get_by_role("button", name="What is a context window? Answer")
        await expect(listed).to_be_visible()
        await expect(chat.messages("user")).to_have_count(0)
        await listed.click()
        await expect(chat.messages("user")).to_have_count(2)
        await expect(chat.messages("assistant").first.locator(".text")).to_have_text(first_reply)

        # Signing out forgets them.
        await chat.page.get_by_role("button", name="Sign out", exact=True).click()
        await chat.page.reload()
        await expect(chat.token).to_be_visible()
        await expect(chat.token).to_have_value("")
        await expect(chat.sidebar.get_by_role("listitem")).to_have_count(0)


async def test_chats_are_listed_newest_first_and_each_shows_its_own_history(
    open_sqlite_api: LiveApiFactory, open_page: OpenPage, request: pytest.FixtureRequest
) -> None:
    async with open_sqlite_api() as live:
        chat = await open_page(live)
        await chat.connect(unique_user("web", request))
        await chat.say("Tell me about apples")
        await chat.new_chat.click()
        await expect(chat.messages("user")).to_have_count(0)
        await chat.say("Tell me about pears")

        chats = chat.sidebar.get_by_role("listitem")
        await expect(chats).to_have_text(["Tell me about pears", "Tell me about apples"])
        apples = chat.sidebar.get_by_role("button", name="Tell me about apples", exact=True)
        pears = chat.sidebar.get_by_role("button", name="Tell me about pears", exact=True)
        await expect(pears).to_have_attribute("aria-current", "true")

        await apples.click()
        await expect(apples).to_have_attribute("aria-current", "true")
        await expect(chat.messages("user").locator(".text")).to_have_text(["Tell me about apples"])
        await expect(chat.conversation).not_to_contain_text("pears")
        await pears.click()
        await expect(chat.conversation).to_contain_text("pears")
        await expect(chat.conversation).not_to_contain_text("apples")

        # A message to the older chat makes it the newest.
        await apples.click()
        await expect(chat.conversation).to_contain_text("apples")
        await chat.say("And green ones?")
        await expect(chats).to_have_text(["Tell me about apples", "Tell me about pears"])
        await expect(chat.messages("user")).to_have_count(2)


async def test_erased_messages_stay_visible_faded_and_marked_out_of_context(
    open_sqlite_api: LiveApiFactory, open_page: OpenPage, request: pytest.FixtureRequest
) -> None:
    user = unique_user("web", request)
    async with open_sqlite_api(context_window=400, max_completion_tokens=100) as live:
        chat = await open_page(live)
        await chat.connect(user)
        for n in range(1, 6):
            await chat.say(f"Message number {n}: " + "long enough to fill a small window, " * 3)

        stored = await _read_only_chat(live, user)
        erased = [m["position"] for m in stored["messages"] if m["erased"]]
        assert erased, "the window should have overflowed"
        shown = chat.messages()
        await expect(shown).to_have_count(len(stored["messages"]))
        for position, message in enumerate(await shown.all()):
            if position in erased:
                await expect(message).to_contain_text("out of context")
                opacity = await message.evaluate("node => getComputedStyle(node).opacity")
                assert float(opacity) < 1
            else:
                await expect(message).not_to_contain_text("out of context")
        await expect(chat.messages("system")).not_to_contain_text("out of context")
        await expect(chat.messages("user").last).to_contain_text("Message number 5")


async def test_html_and_scripts_in_messages_are_shown_as_text_and_never_run(
    open_sqlite_api: LiveApiFactory, open_page: OpenPage, request: pytest.FixtureRequest
) -> None:
    payload = (
        '<img src="x" onerror="window.__injected = 1">'
        "<script>window.__injected = 2</script><b>bold</b>"
    )
    async with open_sqlite_api() as live:
        chat = await open_page(live)
        await chat.connect(unique_user("web", request))
        await chat.say(payload)

        async def shown_as_text() -> None:
            await expect(chat.messages("user").locator(".text")).to_have_text(payload)
            await expect(chat.messages("assistant").locator(".text")).to_contain_text(payload)
            # The title is the first message cut to 80 characters.
            await expect(chat.page.locator("#chat-title")).to_have_text(f"{payload[:80]}…")
            await expect(chat.sidebar.get_by_role("button", name=payload[:80])).to_be_visible()
            assert await chat.page.locator("main img, main script, main b, nav img").count() == 0
            assert await chat.page.evaluate("() => window.__injected") is None

        await shown_as_text()
        # Rendered again from the stored chat, after a reload.
        await chat.page.reload()
        await chat.sidebar.get_by_role("button", name=payload[:80]).click()
        await expect(chat.messages("user")).to_have_count(1)
        await shown_as_text()


async def test_a_wrong_token_is_said_in_words_and_the_right_one_then_works(
    open_sqlite_api: LiveApiFactory, open_page: OpenPage, request: pytest.FixtureRequest
) -> None:
    async with open_sqlite_api() as live:
        chat = await open_page(live)
        await chat.connect(unique_user("web", request), token="not-the-token")
        await expect(chat.alert).to_contain_text("refused the token")
        await expect(chat.alert).to_contain_text("HTTP 401")
        await expect(chat.send_button).to_be_disabled()

        await chat.token.fill(TOKEN)
        await chat.page.get_by_role("button", name="Connect", exact=True).click()
        await expect(chat.alert).to_be_hidden()
        await expect(chat.token).to_be_hidden()
        await chat.say("hello")
        await expect(chat.messages("assistant")).to_have_count(1)


async def test_a_reply_failing_while_it_streams_is_discarded_and_said_in_words(
    open_sqlite_api: LiveApiFactory, open_page: OpenPage, request: pytest.FixtureRequest
) -> None:
    async with open_sqlite_api() as live:
        chat = await open_page(live)
        await chat.connect(unique_user("web", request))
        # Held on screen mid-reply until the test has seen it, then the model fails.
        hold = gateway(live).hold(after_chunks=4)
        gateway(live).fail_next(ScriptedFailure(ProviderUnavailable("upstream broke"), 4))
        await chat.message.fill("hello there")
        await chat.message.press("Enter")
        await expect(chat.conversation.locator(".streaming .text")).to_contain_text("You said")
        hold.release()

        await expect(chat.alert).to_contain_text("failed part-way and was discarded")
        await expect(chat.alert).to_contain_text("upstream broke")
        await chat.reply_finished()
        await expect(chat.messages("assistant")).to_have_count(0)
        await expect(chat.messages("user")).to_have_count(0)
        # The draft is given back, and sending it again works.
        await expect(chat.message).to_have_value("hello there")
        await chat.send_button.click()
        await chat.reply_finished()
        await expect(chat.alert).to_be_hidden()
        await expect(chat.messages("assistant")).to_have_count(1)


async def test_a_busy_chat_a_too_long_message_and_a_lost_connection_are_said_in_words(
    open_sqlite_api: LiveApiFactory, open_page: OpenPage, request: pytest.FixtureRequest
) -> None:
    user = unique_user("web", request)
    async with open_sqlite_api(context_window=400, max_completion_tokens=100) as live:
        chat = await open_page(live)
        await chat.connect(user)
        await chat.say("hello")
        chat_id = (await _read_only_chat(live, user))["id"]

        # 413: the message cannot fit the window.
        await chat.message.fill("word " * 500)
        await chat.message.press("Enter")
        await expect(chat.alert).to_contain_text("too long for this chat")
        await expect(chat.alert).to_contain_text("HTTP 413")
        await expect(chat.message).to_have_value("word " * 500)

        # 409: another client's turn holds the chat (its model is held mid-reply).
        hold = gateway(live).hold(after_chunks=1)
        async with live.turn_streaming(user, chat_id, "from elsewhere"):
            await chat.message.fill("me too")
            await chat.message.press("Enter")
            await expect(chat.alert).to_contain_text("Another reply is still being written")
            await expect(chat.alert).to_contain_text("HTTP 409")
            await expect(chat.message).to_have_value("me too")
        hold.release()

        # No answer at all: the network is down.
        async def refuse(route: Route) -> None:
            await route.abort("internetdisconnected")

        await chat.page.route("**/messages", refuse)
        await chat.message.fill("anyone there?")
        await chat.send_button.click()
        await expect(chat.alert).to_contain_text("Could not reach the service")
        await expect(chat.message).to_have_value("anyone there?")


async def test_the_page_fits_a_phone_screen_without_sideways_scrolling(
    open_sqlite_api: LiveApiFactory, open_page: OpenPage, request: pytest.FixtureRequest
) -> None:
    async with open_sqlite_api() as live:
        chat = await open_page(live, width=360, height=740)
        await chat.page.goto(chat.url)

        async def fits() -> None:
            scroll_width, inner_width = await chat.page.evaluate(
                "() => [document.scrollingElement.scrollWidth, window.innerWidth]"
            )
            assert scroll_width <= inner_width == 360
            for control in (chat.message, chat.send_button, chat.new_chat):
                box = await control.bounding_box()
                assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 360

        await fits()
        await chat.connect(unique_user("web", request))
        await chat.say("an-unbroken-word-" * 20 + " and a title that is much longer than a phone")
        await chat.say("https://example.com/" + "a/" * 100)
        await fits()
