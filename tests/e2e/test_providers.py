"""One real `chatservice serve` process with two providers configured: an OpenAI-compatible one
and an Anthropic one, each a local server speaking its protocol (tests/support/openai_server.py,
tests/support/anthropic_server.py) in the test's own event loop.

Chats on the two providers run side by side, each request reaching its own server in its own
wire shape; an overloaded Anthropic before the first delta moves the turn to OpenAI, which the
stored reply records and the metrics count; after the first delta nothing moves.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.anthropic_server import AnthropicMessagesServer, running_anthropic_server
from support.anthropic_server import Behaviour as AnthropicBehaviour
from support.metrics import scrape, value
from support.openai_server import OpenAICompatibleServer, running_openai_server
from support.process import ServiceProcess, start_service
from support.waiting import GENEROUS_SECONDS

TOKEN = "providers-token"
OPENAI_KEY = "sk-openai-e2e"
ANTHROPIC_KEY = "sk-ant-e2e"
SYSTEM = "You are a terse assistant."
RESERVE = 256
CLAUDE = "claude-opus-5-5"
GPT = "gpt-4o-mini"


def configuration(openai: OpenAICompatibleServer, anthropic: AnthropicMessagesServer) -> str:
    return f"""
model = "{GPT}"
system_message = "{SYSTEM}"
max_completion_tokens = {RESERVE}

[providers.openai]
kind = "openai"
base_url = "{openai.base_url}"
max_retries = 0

[providers.anthropic]
kind = "anthropic"
base_url = "{anthropic.base_url}"
# Anthropic's SDK would retry a 529 by itself: the fallback is what is tested here.
max_retries = 0

[models."{CLAUDE}"]
fallbacks = ["{GPT}"]
"""


@dataclass
class Providers:
    service: ServiceProcess
    http: httpx.AsyncClient
    openai: OpenAICompatibleServer
    anthropic: AnthropicMessagesServer

    async def new_chat(self, user: str, model: str) -> str:
        response = await self.http.post(f"/v1/users/{user}/chats", json={"model": model})
        assert response.status_code == 201, response.text
        assert response.json()["model"] == model
        return str(response.json()["id"])

    async def say(self, user: str, chat_id: str, content: str) -> dict[str, Any]:
        response = await self.http.post(
            f"/v1/users/{user}/chats/{chat_id}/messages", json={"content": content}
        )
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    async def chat(self, user: str, chat_id: str) -> dict[str, Any]:
        response = await self.http.get(f"/v1/users/{user}/chats/{chat_id}")
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]


@pytest.fixture
def services() -> Iterator[list[ServiceProcess]]:
    started: list[ServiceProcess] = []
    with ExitStack() as cleanup:
        cleanup.callback(lambda: [s.stop(signal.SIGKILL) for s in started])
        yield started


@pytest.fixture
async def providers(services: list[ServiceProcess], tmp_path: Path) -> AsyncIterator[Providers]:
    async with running_openai_server() as openai, running_anthropic_server() as anthropic:
        config = tmp_path / "chatservice.toml"
        config.write_text(configuration(openai, anthropic))
        env = {
            "CHATSERVICE_CONFIG": str(config),
            "CHATSERVICE_AUTH_TOKENS": TOKEN,
            # Each provider's key, from the variable its kind reads by default.
            "OPENAI_API_KEY": OPENAI_KEY,
            "ANTHROPIC_API_KEY": ANTHROPIC_KEY,
        }
        service = start_service(env, cwd=tmp_path)
        service.follow_output()
        services.append(service)
        async with httpx.AsyncClient(
            base_url=service.http_url,
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=GENEROUS_SECONDS,
        ) as http:
            yield Providers(service, http, openai, anthropic)
        assert service.stop() == 0
        printed = "\n".join(service.printed)
        assert OPENAI_KEY not in printed and ANTHROPIC_KEY not in printed


async def test_chats_on_two_providers_are_answered_side_by_side_each_in_its_wire_shape(
    providers: Providers,
) -> None:
    on_openai = await providers.new_chat("ada", GPT)
    on_anthropic = await providers.new_chat("ada", CLAUDE)
    holds = [providers.openai.hold(after_chunks=1), providers.anthropic.hold(after_chunks=1)]
    turns = [
        asyncio.create_task(providers.say("ada", on_openai, "Hello, OpenAI")),
        asyncio.create_task(providers.say("ada", on_anthropic, "Hello, Claude")),
    ]
    # Both replies are mid-stream at once, each from its own server, before either ends.
    await asyncio.gather(*(hold.reached() for hold in holds))
    for hold in holds:
        hold.release()
    from_openai, from_anthropic = await asyncio.gather(*turns)
    assert from_openai["message"]["content"] == "Echo: Hello, OpenAI"
    assert from_openai["message"]["model"] == GPT
    assert from_anthropic["message"]["content"] == "Echo: Hello, Claude"
    assert from_anthropic["message"]["model"] == CLAUDE

    (to_openai,) = providers.openai.received
    assert to_openai.body["model"] == GPT
    assert to_openai.body["messages"] == [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": "Hello, OpenAI"},
    ]
    assert to_openai.body["stream_options"] == {"include_usage": True}
    assert to_openai.body["max_completion_tokens"] == RESERVE
    assert to_openai.headers["authorization"] == f"Bearer {OPENAI_KEY}"

    (to_anthropic,) = providers.anthropic.received
    assert to_anthropic.body["model"] == CLAUDE
    assert to_anthropic.body["system"] == SYSTEM
    assert to_anthropic.body["messages"] == [{"role": "user", "content": "Hello, Claude"}]
    assert to_anthropic.body["max_tokens"] == RESERVE
    assert to_anthropic.headers["authorization"] == f"Bearer {ANTHROPIC_KEY}"


async def test_an_overloaded_anthropic_before_the_first_delta_falls_back_to_openai(
    providers: Providers,
) -> None:
    chat_id = await providers.new_chat("bea", CLAUDE)
    providers.anthropic.then(AnthropicBehaviour(status=529))

    reply = await providers.say("bea", chat_id, "Are you there?")

    assert reply["message"]["content"] == "Echo: Are you there?"
    assert reply["message"]["model"] == GPT
    assert reply["usage"]["estimated"] is False  # OpenAI's own usage
    stored = await providers.chat("bea", chat_id)
    assert stored["model"] == CLAUDE  # the chat keeps its own model
    assert [(m["role"], m["model"]) for m in stored["messages"]] == [
        ("system", None),
        ("user", None),
        ("assistant", GPT),
    ]
    # Anthropic was asked once (no retry), then OpenAI, in its own shape.
    assert [r.body["model"] for r in providers.anthropic.received] == [CLAUDE]
    (to_openai,) = providers.openai.received
    assert to_openai.body["model"] == GPT
    assert to_openai.body["messages"][0] == {"role": "system", "content": SYSTEM}
    samples = await scrape(providers.http)
    assert value(samples, "chatservice_fallbacks_total", from_model=CLAUDE, to_model=GPT) == 1

    # The next turn asks the chat's own model first again.
    again = await providers.say("bea", chat_id, "And now?")
    assert again["message"]["model"] == CLAUDE


async def test_no_fallback_after_the_first_delta_the_stream_ends_in_an_error_and_stores_nothing(
    providers: Providers,
) -> None:
    chat_id = await providers.new_chat("cyd", CLAUDE)
    providers.anthropic.then(AnthropicBehaviour(error_after=2))
    events: list[str] = []
    async with providers.http.stream(
        "POST",
        f"/v1/users/cyd/chats/{chat_id}/messages",
        json={"content": "tell me a long story"},
        headers={"Accept": "text/event-stream"},
    ) as response:
        assert response.status_code == 200
        async for line in response.aiter_lines():
            if line.startswith("event:"):
                events.append(line.split(":", 1)[1].strip())
    assert events == ["delta", "delta", "error"]
    assert [m["role"] for m in (await providers.chat("cyd", chat_id))["messages"]] == ["system"]
    assert not providers.openai.received
    samples = await scrape(providers.http)
    assert value(samples, "chatservice_fallbacks_total") == 0
