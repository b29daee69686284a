"""The test MariaDB/MySQL server, and what a test reads back from a database."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from chatservice.adapters.sqlalchemy.tables import (
    chats,
    messages,
    usage_charges,
    usage_records,
    whatsapp_messages,
    whatsapp_senders,
)
from support.waiting import eventually

MYSQL_URL = os.environ.get("CHATSERVICE_TEST_MYSQL_URL", "mysql+asyncmy://root@127.0.0.1:3306")


async def execute_on_server(statement: str, url: str = MYSQL_URL) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


#: A user's stored rows, by table: what a refused request must leave as it was.
StoredRows = dict[str, list[tuple[Any, ...]]]


async def rows_of(engine: AsyncEngine, user_ids: Sequence[str]) -> StoredRows:
    """Every stored row that belongs to these users (or WhatsApp senders): their chats, those
    chats' messages, their calls in the usage ledger and the calls' charges, their WhatsApp
    sender and inbound-message rows. Scoped to the test's own
    users, so that what other tests store meanwhile never shows up as a change."""
    assert user_ids, "name the users whose rows to compare"
    own_chats = chats.c.user_id.in_(user_ids)
    statements = {
        "chats": select(chats).where(own_chats).order_by(chats.c.id),
        "messages": select(messages)
        .join(chats, messages.c.chat_id == chats.c.id)
        .where(own_chats)
        .order_by(messages.c.chat_id, messages.c.position),
        "usage_records": select(usage_records)
        .where(usage_records.c.user_id.in_(user_ids))
        .order_by(usage_records.c.id),
        "usage_charges": select(usage_charges)
        .join(usage_records, usage_charges.c.usage_id == usage_records.c.id)
        .where(usage_records.c.user_id.in_(user_ids))
        .order_by(usage_charges.c.usage_id, usage_charges.c.token_name),
        "whatsapp_senders": select(whatsapp_senders)
        .where(whatsapp_senders.c.sender.in_(user_ids))
        .order_by(whatsapp_senders.c.sender),
        "whatsapp_messages": select(whatsapp_messages)
        .where(whatsapp_messages.c.sender.in_(user_ids))
        .order_by(whatsapp_messages.c.message_sid),
    }
    async with engine.connect() as connection:
        return {
            table: [tuple(row) for row in await connection.execute(statement)]
            for table, statement in statements.items()
        }


async def connection_threads_finished() -> None:
    """Wait for aiosqlite's threads: after a failed connect, one still completes a future on the
    event loop, which must stay open until it has."""
    await eventually(
        lambda: (
            not any(t.name.endswith("(_connection_worker_thread)") for t in threading.enumerate())
        ),
        "aiosqlite's connection threads ended",
    )
