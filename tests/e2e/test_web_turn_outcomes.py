"""What the web chat page shows of how a turn went, besides its text, in headless Chromium: a turn
refused because the user's budget is spent (HTTP 429 `budget_exhausted`) is said in words, and a
reply that a fallback model wrote carries its model's label in a style of its own."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from playwright.async_api import Locator, expect

from chatservice.adapters.fake_gateway import FakeChatGateway, ScriptedFailure
from chatservice.domain.errors import ProviderUnavailable
from support import fallbacks
from support.browser import OpenPage, WebChat
from support.http import LiveApi, LiveApiFactory, unique_user

#: An hour before a UTC midnight: a day's budget renews at the next one.
NOW = datetime(2026, 12, 30, 23, tzinfo=UTC)


def fixed_clock() -> datetime:
    return NOW


def _provider(live: LiveApi, name: str) -> FakeChatGateway:
    gateway = live.container.gateways()[name]
    assert isinstance(gateway, FakeChatGateway)
    return gateway


async def _color(label: Locator) -> str:
    color: str = await label.evaluate("node => getComputedStyle(node).color")
    return color


async def test_a_turn_refused_for_a_spent_budget_says_so_and_gives_the_draft_back(
    open_sqlite_api: LiveApiFactory, open_page: OpenPage, request: pytest.FixtureRequest
) -> None:
    user = unique_user("budget", request)
    async with open_sqlite_api(fixed_clock, budget_tokens_per_day_per_user=1) as live:
        chat = await open_page(live)
        await chat.connect(user)
        # Admitted with nothing spent; its tokens spend the day's budget.
        await chat.say("hello")
        await expect(chat.messages("assistant")).to_have_count(1)
        before = await live.snapshot(user)

        await chat.message.fill("one more, please")
        await chat.message.press("Enter")

        await expect(chat.alert.locator("#error-text")).to_have_text(
            "The usage budget is spent until it renews. HTTP 429: the budget of 1 tokens a day "
            f"for user '{user}' is spent; no turn starts before 2026-12-31T00:00:00Z"
        )
        await chat.reply_finished()
        await expect(chat.message).to_have_value("one more, please")
        await expect(chat.messages("user")).to_have_count(1)
        await expect(chat.messages("assistant")).to_have_count(1)
        assert await live.snapshot(user) == before


def _model_label(chat: WebChat, reply: int) -> Locator:
    return chat.messages("assistant").nth(reply).locator(".model")


async def test_a_reply_from_a_fallback_model_is_labelled_in_a_style_of_its_own(
    open_sqlite_api: LiveApiFactory, open_page: OpenPage, request: pytest.FixtureRequest
) -> None:
    async with open_sqlite_api(**fallbacks.settings()) as live:
        chat = await open_page(live)
        await chat.connect(unique_user("fallback", request))
        # The chat's own model fails before its first word: its fallback writes the reply.
        failure = ScriptedFailure(ProviderUnavailable("overloaded"), after_chunks=0)
        _provider(live, "own").fail_next(failure)
        await chat.say("Are you there?")
        await chat.say("And now?")

        async def labelled() -> None:
            await expect(chat.messages("assistant")).to_have_count(2)
            fallback = _model_label(chat, 0)
            own = _model_label(chat, 1)
            await expect(fallback).to_have_text("first-model")
            await expect(fallback).to_have_class("model fallback")
            await expect(fallback).to_have_attribute(
                "title", "own-model failed before its first word; first-model, a fallback, answered"
            )
            await expect(own).to_have_text("own-model")
            await expect(own).to_have_class("model")
            assert await own.get_attribute("title") is None
            assert await _color(fallback) != await _color(own)

        await labelled()
        # Drawn the same from the stored chat, after a reload.
        await chat.page.reload()
        await chat.sidebar.get_by_role("button", name="Are you there?").click()
        await labelled()
