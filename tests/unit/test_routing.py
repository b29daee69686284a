"""Each chat's model picks its provider on every turn; chats on different providers run side by
side in one process (two fake providers here; tests/e2e/test_providers.py runs OpenAI's and
Anthropic's protocols in one real service)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from chatservice.adapters.fake_gateway import FakeChatGateway
from chatservice.application.ports import CompletionEnd, CompletionRequest, PromptMessage
from chatservice.application.routing import RoutingChatGateway
from chatservice.application.turn_events import Completed, run_to_completion
from chatservice.domain.chat import ChatParams
from chatservice.domain.errors import InvalidInput, ProviderUnavailable
from chatservice.domain.models import ModelSpec
from support.containers import provided
from support.services import COUNTER, Service, build_service

#: Two providers of the fake kind, each serving a model of its own.
TWO_PROVIDERS: dict[str, Any] = {
    "providers": {"north": {"kind": "fake"}, "south": {"kind": "fake"}},
    "models": {
        "north-model": {"provider": "north", "context_window": 8192, "max_output": 1024},
        "south-model": {"provider": "south", "context_window": 8192, "max_output": 1024},
    },
    "model": "north-model",
}


def gateway_of(service: Service, provider: str) -> FakeChatGateway:
    gateways = service.container.gateways()
    gateway = gateways[provider]
    assert isinstance(gateway, FakeChatGateway)
    return gateway


def request_for(provider: str) -> CompletionRequest:
    model = ModelSpec("m", 8192, 1024, "o200k_base", 512, provider=provider)
    return CompletionRequest(model, (PromptMessage("user", "hello"),), ChatParams(100))


async def test_each_request_goes_to_the_gateway_of_its_models_provider() -> None:
    north, south = (FakeChatGateway(COUNTER, chunk_delay_seconds=0) for _ in range(2))
    router = RoutingChatGateway({"north": north, "south": south})
    events = [event async for event in router.stream(request_for("south"))]
    assert isinstance(events[-1], CompletionEnd)
    assert (len(north.requests), len(south.requests)) == (0, 1)


def test_a_request_for_a_provider_that_is_not_configured_is_unavailable() -> None:
    router = RoutingChatGateway({"north": FakeChatGateway(COUNTER, chunk_delay_seconds=0)})
    with pytest.raises(ProviderUnavailable, match="provider 'west', which is not configured"):
        router.stream(request_for("west"))


async def test_chats_on_different_providers_run_side_by_side() -> None:
    service = build_service(**TWO_PROVIDERS)
    north, south = gateway_of(service, "north"), gateway_of(service, "south")
    on_north = await service.start_chat("u1")
    on_south = await service.start_chat("u1", model="south-model")
    holds = [north.hold(after_chunks=1), south.hold(after_chunks=1)]
    turns = [
        asyncio.create_task(run_to_completion(service.send_message("u1", chat.id, "hello")))
        for chat in (on_north, on_south)
    ]
    # Both streams are open at once, each on its own provider, before either ends.
    await asyncio.gather(*(hold.reached() for hold in holds))
    for hold in holds:
        hold.release()
    done: list[Completed] = await asyncio.gather(*turns)
    assert [c.model for c in done] == ["north-model", "south-model"]
    assert [r.model.name for r in north.requests] == ["north-model"]
    assert [r.model.name for r in south.requests] == ["south-model"]


async def test_a_builtin_model_whose_provider_is_not_configured_cannot_start_a_chat() -> None:
    service = build_service(**TWO_PROVIDERS)
    with pytest.raises(InvalidInput, match="provider 'anthropic', which is not configured"):
        await service.start_chat("u1", model="claude-opus-5-5")


async def test_the_shorthand_provider_answers_every_model_claude_included() -> None:
    service = build_service()  # gateway = "fake"
    chat = await service.start_chat("u1", model="claude-haiku-5-5")
    done = await run_to_completion(service.send_message("u1", chat.id, "hello"))
    assert done.model == "claude-haiku-5-5"
    assert provided(service.container.gateway, FakeChatGateway).requests[-1].model.provider == (
        "fake"
    )
