"""The repository's window cache on SQLite and MariaDB: it spares a claim the window's rows, and
replicas sharing one database never turn a stale window into a prompt."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from dependency_injector import providers
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from chatservice.adapters.fake_gateway import FakeChatGateway
from chatservice.adapters.sqlalchemy.engine import create_engine
from chatservice.application.clock import utc_now
from chatservice.application.ports import TurnClaim
from chatservice.application.turn_events import Completed
from chatservice.entrypoints.container import Container
from support.containers import service_container

#: A terse chat in a window small enough that a few turns erase the oldest exchanges.
SMALL_WINDOW = {
    "system_message": "You are terse.",
    "max_completion_tokens": 40,
    "context_window": 160,
}


@pytest.fixture
async def engines(database_url: str) -> AsyncIterator[list[AsyncEngine]]:
    """Three engines on one database: two replicas and an observer."""
    made = [create_engine(database_url) for _ in range(3)]
    yield made
    for engine in made:
        await engine.dispose()


def replica(
    engine: AsyncEngine, gateway: FakeChatGateway | None = None, **settings: Any
) -> Container:
    """One replica of the service, on `engine`, with its own window cache; `gateway` shared
    with another replica when given."""
    overrides: dict[str, providers.Provider[Any]] = {"engine": providers.Object(engine)}
    if gateway is not None:
        overrides["gateway"] = providers.Object(gateway)
    return service_container(overrides, **SMALL_WINDOW, **settings)


def statements_of(engine: AsyncEngine) -> list[str]:
    seen: list[str] = []

    def record(*args: Any) -> None:  # the listener's untyped arguments
        seen.append(" ".join(args[2].split()))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    return seen


async def test_a_warm_claim_is_one_update_and_sees_what_a_cold_one_reads(
    engines: list[AsyncEngine],
) -> None:
    warm_replica = replica(engines[0])
    warm, cold = warm_replica.repository(), replica(engines[1]).repository()
    user = f"cache-{uuid.uuid4().hex[:12]}"
    chat = (await warm_replica.start_chat()(user)).chat
    send = warm_replica.send_message()
    for index in range(6):  # enough to erase, so the cached window has lost messages too
        done = [e async for e in send(user, chat.id, f"hello {index}")][-1]
    assert isinstance(done, Completed)

    warm_statements, cold_statements = statements_of(engines[0]), statements_of(engines[1])
    now = utc_now()
    from_warm = await warm.claim_turn(user, chat.id, TurnClaim("w", now, now))
    claim_statements = [s for s in warm_statements if not s.startswith("BEGIN")]
    await warm.release_turn(chat.id, "w")
    from_cold = await cold.claim_turn(user, chat.id, TurnClaim("c", now, now))

    assert from_warm == from_cold
    assert from_warm.title == "hello 0"
    assert from_warm.version == 6
    assert from_warm.messages[-1] == done.reply
    assert from_warm.messages[1].position > 1, "the window has lost its oldest exchanges"
    assert len(claim_statements) == 1, claim_statements
    assert claim_statements[0].startswith("UPDATE chats"), claim_statements
    assert "version" in claim_statements[0], claim_statements
    assert any("FROM messages" in s for s in cold_statements), cold_statements


async def test_replicas_on_one_database_prompt_with_each_others_latest_turns(
    engines: list[AsyncEngine],
) -> None:
    first = replica(engines[0])
    gateway = first.gateway()
    replicas = [first.send_message(), replica(engines[1], gateway).send_message()]
    observing = replica(engines[2], window_cache_mb=0)
    observer = observing.repository()
    user = f"replicas-{uuid.uuid4().hex[:12]}"
    chat = (await observing.start_chat()(user)).chat
    erased = 0
    for index in range(12):
        stored = await observer.get_chat(user, chat.id)
        window = [m.content for m in stored.messages if not m.erased]
        # Alternating, and twice in a row on each, so a replica's own cached window is reused
        # as well as overtaken by the other's turns.
        events = [e async for e in replicas[(index // 2) % 2](user, chat.id, f"turn {index}")]
        done = events[-1]
        assert isinstance(done, Completed)
        erased += done.erased
        prompt = [m.content for m in gateway.requests[-1].messages]
        assert prompt[0] == window[0]
        assert prompt[-1] == f"turn {index}"
        # What was sent is the stored window, less the oldest messages this turn erased.
        assert prompt[1:-1] == window[1 + done.erased :]
    assert erased > 0, "the window must be small enough to erase"
