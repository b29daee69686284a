"""The repository's window cache on SQLite and MariaDB: it spares a claim the window's rows, and
replicas sharing one database never turn a stale window into a prompt."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from chatservice.adapters.fake_gateway import FakeChatGateway
from chatservice.adapters.sqlalchemy.engine import create_engine
from chatservice.adapters.sqlalchemy.repository import SqlAlchemyChatRepository
from chatservice.adapters.tiktoken_counter import TiktokenTokenCounter
from chatservice.application.background import BackgroundWork
from chatservice.application.chats import StartChat
from chatservice.application.clock import utc_now
from chatservice.application.ports import TurnClaim
from chatservice.application.turn_events import Completed
from chatservice.application.turns import SendMessage, TakeTurn
from chatservice.domain.models import ModelRegistry
from chatservice.entrypoints.container import Container
from chatservice.entrypoints.settings import Settings

POLICY = Container(
    settings=Settings(system_message="You are terse.", max_completion_tokens=40)
).policy()
CACHE_BYTES = Settings().window_cache_bytes
# Small enough that a few turns erase the oldest exchanges.
REGISTRY = ModelRegistry(context_window_override=160)


@pytest.fixture
async def engines(database_url: str) -> AsyncIterator[list[AsyncEngine]]:
    """Three engines on one database: two replicas and an observer."""
    made = [create_engine(database_url) for _ in range(3)]
    yield made
    for engine in made:
        await engine.dispose()


def sender(
    repository: SqlAlchemyChatRepository, gateway: FakeChatGateway, counter: TiktokenTokenCounter
) -> SendMessage:
    take_turn = TakeTurn(repository, gateway, counter, REGISTRY, POLICY, BackgroundWork())
    return SendMessage(take_turn, POLICY)


def statements_of(engine: AsyncEngine) -> list[str]:
    seen: list[str] = []

    def record(*args: Any) -> None:  # the listener's untyped arguments
        seen.append(" ".join(args[2].split()))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    return seen


async def test_a_warm_claim_is_one_update_and_sees_what_a_cold_one_reads(
    engines: list[AsyncEngine],
) -> None:
    counter = TiktokenTokenCounter()
    warm, cold = (SqlAlchemyChatRepository(e, CACHE_BYTES) for e in engines[:2])
    user = f"cache-{uuid.uuid4().hex[:12]}"
    chat = await StartChat(warm, counter, REGISTRY, POLICY)(user)
    send = sender(warm, FakeChatGateway(counter, chunk_delay_seconds=0), counter)
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
    counter = TiktokenTokenCounter()
    gateway = FakeChatGateway(counter, chunk_delay_seconds=0)
    replicas = [
        sender(SqlAlchemyChatRepository(e, CACHE_BYTES), gateway, counter) for e in engines[:2]
    ]
    observer = SqlAlchemyChatRepository(engines[2], window_cache_bytes=0)
    user = f"replicas-{uuid.uuid4().hex[:12]}"
    chat = await StartChat(observer, counter, REGISTRY, POLICY)(user)
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
