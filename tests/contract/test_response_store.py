"""The `ResponseStore` contract, held against every adapter: in memory, SQLite and MariaDB."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from chatservice.adapters.memory_repository.repository import InMemoryChatRepository
from chatservice.adapters.memory_response_store import InMemoryResponseStore
from chatservice.adapters.sqlalchemy.engine import create_engine
from chatservice.adapters.sqlalchemy.repository import SqlAlchemyChatRepository
from chatservice.adapters.sqlalchemy.response_store import SqlAlchemyResponseStore
from chatservice.application.ids import new_id
from chatservice.application.ports import ChatRepository, ResponseStore
from chatservice.domain.responses import ConversationRecord, ResponseRecord
from chatservice.domain.turn import Truncation, TurnOptions
from support.chat_records import stored_chat
from support.databases import connection_threads_finished

T0 = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)


@dataclass
class Store:
    responses: ResponseStore
    chats: ChatRepository

    async def new_chat(self, user_id: str) -> str:
        return await stored_chat(self.chats, user_id)


@pytest.fixture
async def store(store_url: str | None) -> AsyncIterator[Store]:
    if store_url is None:
        yield Store(InMemoryResponseStore(), InMemoryChatRepository())
        return
    async with _sql_store(store_url) as store:
        yield store


@asynccontextmanager
async def _sql_store(url: str) -> AsyncIterator[Store]:
    engine = create_engine(url)
    try:
        yield Store(SqlAlchemyResponseStore(engine), SqlAlchemyChatRepository(engine, 0))
    finally:
        await engine.dispose()
        await connection_threads_finished()


@pytest.fixture
async def sql_store(database_url: str) -> AsyncIterator[Store]:
    async with _sql_store(database_url) as store:
        yield store


def record(user_id: str, chat_id: str, **fields: object) -> ResponseRecord:
    values: dict[str, object] = {
        "id": "resp_" + new_id().replace("-", ""),
        "user_id": user_id,
        "chat_id": chat_id,
        "request_id": new_id(),
        "model": "gpt-4o-mini",
        "created_at": T0,
    }
    return ResponseRecord(**(values | fields))  # type: ignore[arg-type]


async def test_a_stored_response_is_found_as_it_was_stored(store: Store) -> None:
    user = f"u-{new_id()}"
    chat_id = await store.new_chat(user)
    first = record(user, chat_id)
    asked = record(
        user,
        chat_id,
        options=TurnOptions("Be brief.", 77, 0.5, 0.25, Truncation.DISABLED),
        metadata={"topic": "ünïcode", "k": ""},
        previous_response_id=first.id,
        in_conversation=True,
        background=True,
    )
    await store.responses.add_response(first)
    await store.responses.add_response(asked)
    assert await store.responses.find_response(user, first.id) == first
    assert await store.responses.find_response(user, asked.id) == asked


async def test_another_users_response_is_not_found_nor_deleted(store: Store) -> None:
    user = f"u-{new_id()}"
    stored = record(user, await store.new_chat(user))
    await store.responses.add_response(stored)
    assert await store.responses.find_response(f"{user}-other", stored.id) is None
    assert await store.responses.delete_response(f"{user}-other", stored.id) is False
    assert await store.responses.find_response(user, stored.id) == stored


async def test_a_deleted_response_is_gone_and_deleting_it_again_says_so(store: Store) -> None:
    user = f"u-{new_id()}"
    stored = record(user, await store.new_chat(user))
    await store.responses.add_response(stored)
    assert await store.responses.delete_response(user, stored.id) is True
    assert await store.responses.find_response(user, stored.id) is None
    assert await store.responses.delete_response(user, stored.id) is False


async def test_a_conversations_metadata_is_kept_and_replaced_for_its_user_only(
    store: Store,
) -> None:
    user = f"u-{new_id()}"
    chat_id = await store.new_chat(user)
    assert await store.responses.find_conversation(user, chat_id) is None
    await store.responses.put_conversation(ConversationRecord(chat_id, user, {"a": "1"}))
    await store.responses.put_conversation(ConversationRecord(chat_id, user, {"b": "2"}))
    found = await store.responses.find_conversation(user, chat_id)
    assert found == ConversationRecord(chat_id, user, {"b": "2"})
    assert await store.responses.find_conversation(f"{user}-other", chat_id) is None


async def test_a_chat_deleted_in_the_database_takes_its_records_with_it(
    sql_store: Store,
) -> None:
    """Beside the contract, on the databases alone: there the chat's rows and its responses'
    live together, and deleting the chat deletes both. The in-memory adapters are separate stores
    for unit tests, which no service runs on."""
    store = sql_store
    user = f"u-{new_id()}"
    chat_id = await store.new_chat(user)
    stored = record(user, chat_id)
    await store.responses.add_response(stored)
    await store.responses.put_conversation(ConversationRecord(chat_id, user, {"a": "1"}))
    await store.chats.delete_chat(user, chat_id)
    assert await store.responses.find_response(user, stored.id) is None
    assert await store.responses.find_conversation(user, chat_id) is None
