"""The API reference page, `/schema`, in headless Chromium with no way out but to the service:
Redoc comes from the package, so the page renders as it would on a machine without internet."""

from __future__ import annotations

from urllib.parse import urlsplit

from playwright.async_api import Browser, Route, expect

from support.http import LiveApiFactory

# Redoc's sidebar credits Redocly with a logo from its CDN: the page's CSP refuses it inside the
# browser, before any request, and Redoc then leaves the logo out. That refusal is the one error.
REDOCLY_LOGO_REFUSED = (
    "Loading the image 'https://cdn.redoc.ly/redoc/logo-mini.svg' violates the following "
    "Content Security Policy directive"
)


async def test_the_api_reference_renders_with_only_the_service_reachable(
    open_sqlite_api: LiveApiFactory, browser: Browser
) -> None:
    async with open_sqlite_api() as live:
        service = urlsplit(live.url).netloc
        context = await browser.new_context()
        elsewhere: list[str] = []

        async def only_the_service(route: Route) -> None:
            if urlsplit(route.request.url).netloc == service:
                await route.continue_()
            else:
                elsewhere.append(route.request.url)
                await route.abort()

        await context.route("**/*", only_the_service)
        page = await context.new_page()
        page_errors: list[str] = []
        page.on("pageerror", lambda error: page_errors.append(str(error)))
        console_errors: list[str] = []
        page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
        try:
            await page.goto(f"{live.url}/schema")

            await expect(page.get_by_role("heading", name="chatservice (1)")).to_be_visible()
            await expect(page.get_by_role("heading", name="Start a chat")).to_be_visible()
            await expect(
                page.get_by_role("heading", name="Send a message and receive the reply")
            ).to_be_visible()
            # The search box works: its index is built in a worker the page's CSP allows.
            await page.get_by_placeholder("Search...").fill("erased")
            await expect(
                page.get_by_role("menuitem", name="A chat with every message, erased ones included")
            ).to_be_visible()
        finally:
            await context.close()
        assert elsewhere == []
        assert page_errors == []
        assert [e for e in console_errors if not e.startswith(REDOCLY_LOGO_REFUSED)] == []
