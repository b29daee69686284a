"""Replies on the web chat page rendered as Markdown, through the sanitizer, in headless Chromium.

The service answers through a local OpenAI-compatible model that echoes the user's message
verbatim (support/openai_server.py), so a message written in Markdown, or holding an attack, comes
back inside the reply exactly as sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import Locator, Request, Route, expect

from support.browser import OpenPage, WebChat
from support.http import LiveApi, LiveApiFactory, unique_user
from support.openai_server import OpenAICompatibleServer, running_openai_server
from support.web_files import OWN_SCRIPTS, VENDORED

MARKDOWN = """Show me the parts.

## Steps

1. First **bold** step
2. Second *quiet* step

- apples
- pears

> A quoted line

| Name | Value |
|:-----|------:|
| a    | 1     |
| b    | 2     |

```python
def greet(name):
    return f"<b>{name}</b>"
```

Read [the guide](https://example.com/guide "The guide") or write to <team@example.com>."""

CODE = 'def greet(name):\n    return f"<b>{name}</b>"\n'

#: Each sets `window.__pwned` if it ever runs; none may, nor leave a trace in the page.
ATTACKS = """Attacks follow.

<script>window.__pwned = "script"</script>

<img src="x" onerror="window.__pwned = 'img'">

Inline <img src=x onerror="window.__pwned='inline img'"> and <b onclick="window.__pwned='b'">b</b>.

<iframe src="javascript:window.__pwned='iframe'"></iframe>

<svg onload="window.__pwned = 'svg'"><circle r="5"/></svg>

<a href="javascript:window.__pwned='a'">html link</a>

<details open ontoggle="window.__pwned='details'"><summary>s</summary></details>

<form action="https://example.com/steal"><input autofocus onfocus="window.__pwned='input'"></form>

<style>body { display: none }</style>

<object data="javascript:window.__pwned='object'"></object>

[js link](javascript:window.__pwned='link')

[angled js link](<javascript:window.__pwned='angled'>)

[entity link](jav&#x61;script:window.__pwned='entity')

[data link](data:text/html;base64,PHNjcmlwdD53aW5kb3cuX19wd25lZD0nZGF0YSc8L3NjcmlwdD4=)

[relative link](/v1/users)

![js image](javascript:window.__pwned='image')

![data image](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9IndpbmRvdy5fX3B3bmVkPTEiLz4=)

![remote image](https://example.com/tracker.png)

[quoted title](https://example.com/a "x\\" onmouseover=\\"window.__pwned='title'")

![quoted image title](https://example.com/b.png "y\\" onerror=\\"window.__pwned='image title'")

[reference link][evil]

[evil]: javascript:window.__pwned='reference'

<javascript:window.__pwned='autolink'>

A bare www.example.com/plain link."""

#: Links that survive: (text, address).
SAFE_LINKS = [
    ("Image: remote image", "https://example.com/tracker.png"),
    ("quoted title", "https://example.com/a"),
    ("Image: quoted image title", "https://example.com/b.png"),
    ("www.example.com/plain", "http://www.example.com/plain"),
]
#: Shown as text, never as links.
DEAD_LINKS = [
    "js link",
    "angled js link",
    "entity link",
    "data link",
    "relative link",
    "Image: js image",
    "Image: data image",
    "reference link",
]

# Before any script of the page: every attempt the CSP blocked is kept in `window.__violations`.
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__violations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""

# Every element in the conversation with an attribute that could run or load something.
RISKY_ATTRIBUTES = """
(log) => [...log.querySelectorAll("*")].flatMap((node) =>
  [...node.attributes]
    .filter((a) => /^on/i.test(a.name) || ["style", "src", "srcdoc", "action", "formaction",
      "xlink:href", "data"].includes(a.name.toLowerCase()))
    .map((a) => `${node.tagName} ${a.name}=${a.value}`))
"""


@pytest.fixture
async def model() -> AsyncIterator[OpenAICompatibleServer]:
    async with running_openai_server() as server:
        yield server


@pytest.fixture
async def live(
    open_sqlite_api: LiveApiFactory, model: OpenAICompatibleServer
) -> AsyncIterator[LiveApi]:
    async with open_sqlite_api(gateway="openai", openai_base_url=model.base_url) as opened:
        yield opened


def reply(chat: WebChat) -> Locator:
    return chat.messages("assistant").last.locator(".text")


async def open_the_only_chat(chat: WebChat) -> None:
    """Reload the page and open its one chat: the reply rendered again from what is stored."""
    await chat.page.reload()
    await chat.sidebar.get_by_role("listitem").get_by_role("button").click()
    await expect(chat.messages("assistant")).to_have_count(1)


async def test_a_reply_in_markdown_is_rendered_while_it_streams_and_once_it_is_stored(
    live: LiveApi,
    model: OpenAICompatibleServer,
    open_page: OpenPage,
    request: pytest.FixtureRequest,
) -> None:
    chat = await open_page(live, permissions=["clipboard-read", "clipboard-write"])
    await chat.connect(unique_user("md", request))
    # Held once the heading and the first list item are out: rendered before the rest comes.
    hold = model.hold(after_chunks=12)
    await chat.message.fill(MARKDOWN)
    await chat.message.press("Enter")
    await hold.reached()
    await expect(chat.streaming_reply.locator("h2")).to_have_text("Steps")
    await expect(chat.streaming_reply.locator("ol > li strong")).to_have_text("bold")
    await expect(chat.streaming_reply.locator("table")).to_have_count(0)
    hold.release()
    await chat.reply_finished()

    async def rendered() -> None:
        shown = reply(chat)
        await expect(shown.locator("h2")).to_have_text("Steps")
        await expect(shown.locator("ol > li")).to_have_text(
            ["First bold step", "Second quiet step"]
        )
        await expect(shown.locator("ol strong")).to_have_text("bold")
        await expect(shown.locator("ol em")).to_have_text("quiet")
        await expect(shown.locator("ul > li")).to_have_text(["apples", "pears"])
        await expect(shown.locator("blockquote")).to_have_text("A quoted line")
        await expect(shown.locator("th")).to_have_text(["Name", "Value"])
        await expect(shown.locator("td")).to_have_text(["a", "1", "b", "2"])
        code = shown.locator("pre code")
        assert await code.text_content() == CODE
        await expect(shown.locator(".code-language")).to_have_text("python")
        assert await shown.locator("pre b").count() == 0
        guide = shown.get_by_role("link", name="the guide")
        await expect(guide).to_have_attribute("href", "https://example.com/guide")
        await expect(guide).to_have_attribute("title", "The guide")
        mail = shown.get_by_role("link", name="team@example.com")
        await expect(mail).to_have_attribute("href", "mailto:team@example.com")
        for link in (guide, mail):
            await expect(link).to_have_attribute("target", "_blank")
            await expect(link).to_have_attribute("rel", "noopener noreferrer")
        # What the person wrote stays as written: Markdown is not rendered in their message.
        assert await chat.messages("user").locator(".text").text_content() == MARKDOWN
        assert await chat.messages("user").locator("h2, pre, table, a").count() == 0

    await rendered()
    await shown_copy_button_copies(chat)
    await open_the_only_chat(chat)
    await rendered()


async def shown_copy_button_copies(chat: WebChat) -> None:
    # Found by its place, not its name: the name changes once it has copied.
    copy = reply(chat).locator(".code-bar").get_by_role("button")
    await expect(copy).to_have_text("Copy")
    await copy.click()
    await expect(copy).to_have_text("Copied")
    assert await chat.page.evaluate("() => navigator.clipboard.readText()") == CODE


@pytest.mark.parametrize("csp", ["with the csp", "with the csp bypassed"])
async def test_html_and_script_in_a_reply_or_its_links_and_images_never_run(
    live: LiveApi, open_page: OpenPage, request: pytest.FixtureRequest, csp: str
) -> None:
    # With the CSP bypassed, the sanitizer alone stands between the reply and the page.
    chat = await open_page(live, bypass_csp=csp == "with the csp bypassed")
    await chat.page.add_init_script(RECORD_VIOLATIONS)
    await chat.connect(unique_user("xss", request))
    await chat.say(ATTACKS)

    async def harmless() -> None:
        shown = reply(chat)
        # The reply's HTML is shown as text.
        await expect(shown).to_contain_text('<script>window.__pwned = "script"</script>')
        await expect(shown).to_contain_text("<svg onload=\"window.__pwned = 'svg'\">")
        await expect(shown).to_contain_text(
            "<a href=\"javascript:window.__pwned='a'\">html link</a>"
        )
        dangerous = "script, img, iframe, svg, object, embed, form, input, details, style, b"
        assert await chat.conversation.locator(dangerous).count() == 0
        assert await chat.conversation.evaluate(RISKY_ATTRIBUTES) == []
        for text, address in SAFE_LINKS:
            link = shown.get_by_role("link", name=text, exact=True)
            await expect(link).to_have_attribute("href", address)
            await expect(link).to_have_attribute("target", "_blank")
            await expect(link).to_have_attribute("rel", "noopener noreferrer")
        await expect(shown.get_by_role("link", name="quoted title")).to_have_attribute(
            "title", "x\" onmouseover=\"window.__pwned='title'"
        )
        await expect(shown.get_by_role("link")).to_have_count(len(SAFE_LINKS))
        for text in DEAD_LINKS:
            await expect(shown.get_by_text(text, exact=True)).to_be_visible()
        # Every link pointed at and focused: no handler hides behind one.
        for link in await shown.get_by_role("link").all():
            await link.hover()
            await link.focus()
        assert await chat.page.evaluate("() => window.__pwned") is None
        assert await chat.page.evaluate("() => window.__violations") == []
        assert await chat.messages("user").locator(".text").text_content() == ATTACKS

    await harmless()
    await open_the_only_chat(chat)
    await harmless()


async def test_trusted_types_refuse_any_html_string_the_page_did_not_clean(
    live: LiveApi, open_page: OpenPage
) -> None:
    chat = await open_page(live)
    await chat.page.goto(chat.url)
    refused = await chat.page.evaluate(
        """() => {
            try {
                document.body.insertAdjacentHTML("beforeend", "<b>markup</b>");
                return null;
            } catch (error) {
                return error.name;
            }
        }"""
    )
    assert refused == "TypeError"


async def test_the_page_asks_nothing_of_any_other_origin(
    live: LiveApi, open_page: OpenPage, request: pytest.FixtureRequest
) -> None:
    chat = await open_page(live)
    await chat.page.add_init_script(RECORD_VIOLATIONS)
    elsewhere: list[str] = []
    asked: list[str] = []

    async def only_this_service(route: Route) -> None:
        if route.request.url.startswith(f"{live.url}/"):
            await route.continue_()
        else:
            elsewhere.append(route.request.url)
            await route.abort("blockedbyclient")

    def note(asked_for: Request) -> None:
        asked.append(asked_for.url)

    await chat.page.context.route("**/*", only_this_service)
    chat.page.on("request", note)
    await chat.connect(unique_user("origin", request))
    await chat.say(f"{MARKDOWN}\n\n![remote image](https://example.com/tracker.png)")
    await expect(reply(chat).locator("pre")).to_have_count(1)
    await open_the_only_chat(chat)

    assert elsewhere == []
    assert await chat.page.evaluate("() => window.__violations") == []
    scripts = {url.removeprefix(live.url) for url in asked if url.endswith((".js", ".mjs"))}
    assert scripts == {*OWN_SCRIPTS, *VENDORED}


WIDE = (
    "Wide things:\n\n"
    "```\n" + "a_very_long_line_of_code = " + "x" * 300 + "\n```\n\n"
    "| " + " | ".join(f"column {n}" for n in range(12)) + " |\n"
    "|" + "---|" * 12 + "\n"
    "| " + " | ".join(f"value {n}" for n in range(12)) + " |\n\n"
    "https://example.com/" + "a/" * 80 + " and " + "an-unbroken-word-" * 20
)


async def test_on_a_390_px_phone_nothing_scrolls_sideways_and_every_control_is_in_reach(
    live: LiveApi,
    model: OpenAICompatibleServer,
    open_page: OpenPage,
    request: pytest.FixtureRequest,
) -> None:
    width = 390
    chat = await open_page(live, width=width, height=844)
    await chat.page.goto(chat.url)

    async def fits(*controls: Locator) -> None:
        scroll_width = await chat.page.evaluate("() => document.documentElement.scrollWidth")
        assert scroll_width <= width
        for control in controls:
            await expect(control).to_be_visible()
            box = await control.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width

    await fits(chat.token, chat.user_id)
    await chat.connect(unique_user("phone", request))
    await fits(chat.message, chat.send_button, chat.new_chat)

    hold = model.hold(after_chunks=3)
    await chat.message.fill(WIDE)
    await chat.message.press("Enter")
    await hold.reached()
    await expect(chat.send_button).to_be_disabled()
    await fits(chat.message, chat.send_button, chat.stop_button)
    hold.release()
    await chat.reply_finished()
    await expect(chat.stop_button).to_be_hidden()
    await fits(chat.message, chat.send_button, chat.new_chat)

    # Wide code and tables scroll inside themselves, within the screen.
    for wide in (reply(chat).locator("pre"), reply(chat).locator("table")):
        sizes: dict[str, Any] = await wide.evaluate(
            "(node) => ({scroll: node.scrollWidth, client: node.clientWidth,"
            " right: node.getBoundingClientRect().right})"
        )
        assert sizes["scroll"] > sizes["client"], sizes
        assert sizes["right"] <= width, sizes

    # The list of chats is folded away under its button, and folds again once a chat is chosen.
    chats = chat.page.get_by_role("button", name="Chats", exact=True)
    listed = chat.sidebar.get_by_role("listitem").get_by_role("button")
    await expect(chats).to_have_attribute("aria-expanded", "false")
    await expect(listed).to_be_hidden()
    await chats.click()
    await expect(chats).to_have_attribute("aria-expanded", "true")
    await fits(listed)
    await listed.click()
    await expect(listed).to_be_hidden()
    await expect(chat.messages("assistant")).to_have_count(1)
    await fits(chat.message, chat.send_button, chats)
