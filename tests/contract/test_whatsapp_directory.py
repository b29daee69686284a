"""The `WhatsAppDirectory` contract, held against every adapter: in memory, SQLite and MariaDB."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.ext.asyncio import AsyncEngine

from chatservice.adapters.memory_repository.repository import InMemoryChatRepository
from chatservice.adapters.memory_whatsapp_directory import InMemoryWhatsAppDirectory
from chatservice.adapters.sqlalchemy.engine import create_engine
from chatservice.adapters.sqlalchemy.repository import SqlAlchemyChatRepository
from chatservice.adapters.sqlalchemy.tables import whatsapp_senders
from chatservice.adapters.sqlalchemy.whatsapp_directory import SqlAlchemyWhatsAppDirectory
from chatservice.application.ports import ChatRepository, WhatsAppDirectory
from chatservice.entrypoints.settings import Settings
from support.chat_records import stored_chat

T0 = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
#: The chats' repository holds the chats the directory refers to, as the service runs it.
CACHE_BYTES = Settings().window_cache_bytes


@dataclass
class Store:
    directory: WhatsAppDirectory
    chats: ChatRepository
    engine: AsyncEngine | None = None

    async def new_chat(self, sender: str) -> str:
        return await stored_chat(self.chats, sender)


@pytest.fixture
async def store(store_url: str | None) -> AsyncIterator[Store]:
    if store_url is None:
        yield Store(InMemoryWhatsAppDirectory(), InMemoryChatRepository())
        return
    engine = create_engine(store_url)
    try:
        yield Store(
            SqlAlchemyWhatsAppDirectory(engine),
            SqlAlchemyChatRepository(engine, CACHE_BYTES),
            engine,
        )
    finally:
        await engine.dispose()


@pytest.fixture
async def sql_store(database_url: str) -> AsyncIterator[Store]:
    engine = create_engine(database_url)
    try:
        yield Store(
            SqlAlchemyWhatsAppDirectory(engine),
            SqlAlchemyChatRepository(engine, CACHE_BYTES),
            engine,
        )
    finally:
        await engine.dispose()


def new_sender() -> str:
    return f"whatsapp:+{uuid.uuid4().int % 10**13:013d}"


def new_sid() -> str:
    return "SM" + uuid.uuid4().hex


async def test_a_message_is_taken_once_and_its_redeliveries_are_refused(store: Store) -> None:
    sid, sender = new_sid(), new_sender()

    assert await store.directory.take_message(sid, sender, T0) is True
    assert await store.directory.take_message(sid, sender, T0) is False
    assert await store.directory.take_message(sid, new_sender(), T0) is False


async def test_only_one_of_many_simultaneous_deliveries_is_taken(store: Store) -> None:
    sid, sender = new_sid(), new_sender()

    taken = await asyncio.gather(*(store.directory.take_message(sid, sender, T0) for _ in range(8)))

    assert sorted(taken) == [False] * 7 + [True]


async def test_message_sids_compare_exactly(store: Store) -> None:
    sid, sender = new_sid(), new_sender()
    await store.directory.take_message(sid, sender, T0)

    assert await store.directory.take_message(sid.upper(), sender, T0) is True
    assert await store.directory.take_message(sid + " ", sender, T0) is True


async def test_a_new_sender_has_no_chat_until_one_is_switched_in(store: Store) -> None:
    sender = new_sender()
    chat_id = await store.new_chat(sender)

    assert await store.directory.current_chat(sender) is None
    assert await store.directory.switch_chat(sender, None, chat_id, T0) == chat_id
    assert await store.directory.current_chat(sender) == chat_id


async def test_a_sender_keeps_the_first_chat_when_two_are_switched_in_from_none(
    store: Store,
) -> None:
    sender = new_sender()
    first, second = await store.new_chat(sender), await store.new_chat(sender)
    await store.directory.switch_chat(sender, None, first, T0)

    assert await store.directory.switch_chat(sender, None, second, T0) == first
    assert await store.directory.current_chat(sender) == first


async def test_only_one_of_many_simultaneous_first_chats_becomes_the_senders(
    store: Store,
) -> None:
    sender = new_sender()
    candidates = [await store.new_chat(sender) for _ in range(6)]

    current = await asyncio.gather(
        *(store.directory.switch_chat(sender, None, c, T0) for c in candidates)
    )

    assert len(set(current)) == 1
    assert current[0] in candidates
    assert await store.directory.current_chat(sender) == current[0]


async def test_a_switch_from_the_current_chat_replaces_it(store: Store) -> None:
    sender = new_sender()
    old, new = await store.new_chat(sender), await store.new_chat(sender)
    await store.directory.switch_chat(sender, None, old, T0)

    assert await store.directory.switch_chat(sender, old, new, T0) == new
    assert await store.directory.current_chat(sender) == new


async def test_a_switch_from_a_chat_that_is_no_longer_current_changes_nothing(
    store: Store,
) -> None:
    sender = new_sender()
    old, current, late = [await store.new_chat(sender) for _ in range(3)]
    await store.directory.switch_chat(sender, None, old, T0)
    await store.directory.switch_chat(sender, old, current, T0)

    assert await store.directory.switch_chat(sender, old, late, T0) == current
    assert await store.directory.current_chat(sender) == current


async def test_senders_are_told_apart_however_alike_their_numbers(store: Store) -> None:
    sender = "whatsapp:+" + new_sender()[-13:]
    alike = [sender.upper(), sender + " ", sender.removeprefix("whatsapp:")]
    chats = {s: await store.new_chat(s) for s in [sender, *alike]}
    for someone, chat_id in chats.items():
        await store.directory.switch_chat(someone, None, chat_id, T0)

    for someone, chat_id in chats.items():
        assert await store.directory.current_chat(someone) == chat_id


async def test_the_database_itself_refuses_a_second_chat_for_a_sender(sql_store: Store) -> None:
    sender = new_sender()
    first, second = await sql_store.new_chat(sender), await sql_store.new_chat(sender)
    await sql_store.directory.switch_chat(sender, None, first, T0)
    assert sql_store.engine is not None

    with pytest.raises(exc.IntegrityError):
        async with sql_store.engine.begin() as connection:
            await connection.execute(
                sa.insert(whatsapp_senders).values(sender=sender, chat_id=second, since=T0)
            )


async def test_deleting_a_chat_leaves_its_sender_without_one(sql_store: Store) -> None:
    sender = new_sender()
    chat_id = await sql_store.new_chat(sender)
    await sql_store.directory.switch_chat(sender, None, chat_id, T0)

    await sql_store.chats.delete_chat(sender, chat_id)

    assert await sql_store.directory.current_chat(sender) is None
    replacement = await sql_store.new_chat(sender)
    assert await sql_store.directory.switch_chat(sender, chat_id, replacement, T0) == replacement


async def test_forgetting_a_sender_removes_their_chat_row_and_records_in_batches(
    store: Store,
) -> None:
    sender, other = new_sender(), new_sender()
    await store.directory.switch_chat(sender, None, await store.new_chat(sender), T0)
    await store.directory.switch_chat(other, None, await store.new_chat(other), T0)
    sids = [new_sid() for _ in range(3)]
    for sid in sids:
        await store.directory.take_message(sid, sender, T0)
    kept = new_sid()
    await store.directory.take_message(kept, other, T0)

    removed = [await store.directory.forget_sender(sender, 2) for _ in range(3)]

    assert removed == [3, 1, 0]  # the chat row with the first batch
    assert await store.directory.current_chat(sender) is None
    assert all([await store.directory.take_message(sid, sender, T0) for sid in sids])
    assert await store.directory.current_chat(other) is not None
    assert await store.directory.take_message(kept, other, T0) is False


async def test_records_received_before_a_cutoff_are_pruned_in_batches(store: Store) -> None:
    # Long before T0, so that no other test's records are in the way.
    old = T0.replace(year=2001)
    sender = new_sender()
    sids = [new_sid() for _ in range(3)]
    for index, sid in enumerate(sids):
        await store.directory.take_message(sid, sender, old + timedelta(seconds=index))
    recent = new_sid()
    await store.directory.take_message(recent, sender, old + timedelta(days=1))
    cutoff = old + timedelta(hours=1)

    assert await store.directory.count_messages_before(cutoff) == 3
    assert [await store.directory.prune_messages(cutoff, 2) for _ in range(3)] == [2, 1, 0]
    assert await store.directory.count_messages_before(cutoff) == 0
    assert await store.directory.take_message(sids[0], sender, T0) is True
    assert await store.directory.take_message(recent, sender, T0) is False
