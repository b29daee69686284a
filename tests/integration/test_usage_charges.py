"""The usage ledger's charges as the database keeps them, on SQLite and MariaDB: one row per tenant
a call is charged to, written with the call, and gone with it when its user is erased (by the
foreign key's cascade, which SQLite enforces too)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from chatservice.adapters.sqlalchemy.engine import create_engine
from chatservice.adapters.sqlalchemy.repository import SqlAlchemyChatRepository
from chatservice.adapters.sqlalchemy.tables import usage_charges, usage_records
from chatservice.domain.chat import Usage
from chatservice.domain.memory import ChatSummary
from chatservice.domain.usage import CallKind, PaidCall
from support.chat_records import claim, new_chat, new_id, new_user, summary_call, turn

AT = datetime(2026, 4, 30, 23, 59, 59, tzinfo=UTC)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


async def charges_of(engine: AsyncEngine, user_id: str) -> list[tuple[str, date, int, Decimal]]:
    query = (
        select(
            usage_charges.c.token_name,
            usage_charges.c.day,
            usage_charges.c.tokens,
            usage_charges.c.cost,
        )
        .join(usage_records, usage_records.c.id == usage_charges.c.usage_id)
        .where(usage_records.c.user_id == user_id)
        .order_by(usage_records.c.kind, usage_charges.c.token_name)
    )
    async with engine.connect() as connection:
        return [tuple(row) for row in await connection.execute(query)]  # type: ignore[misc]


async def test_each_call_is_charged_to_its_tenants_and_the_charges_go_with_the_user(
    engine: AsyncEngine,
) -> None:
    repository = SqlAlchemyChatRepository(engine, 0)
    chat = new_chat(new_user(), exchanges=2, erased=1)
    await repository.add_chat(chat)
    key = new_id()
    claimed = await repository.claim_turn(chat.user_id, chat.id, claim(key))
    bill = Usage(1000, 200, 100, Decimal("0.000123456789"))
    call = PaidCall(CallKind.REPLY, "gpt-4o-mini", AT, bill, ("acme", "all"))
    await repository.commit_turn(replace(turn(claimed, key), usage=bill, call=call))
    summary = ChatSummary("They met.", 5, 2, AT)
    await repository.store_summary(
        chat.user_id, chat.id, summary, summary_call(Usage(50, 5), at=AT, charged_to=("all",))
    )

    assert await charges_of(engine, chat.user_id) == [
        ("acme", AT.date(), 1200, bill.cost),
        ("all", AT.date(), 1200, bill.cost),
        ("all", AT.date(), 55, Decimal(0)),
    ]
    await repository.delete_chat(chat.user_id, chat.id)
    assert len(await charges_of(engine, chat.user_id)) == 3

    while await repository.delete_user_usage(chat.user_id, 1):
        pass

    assert await charges_of(engine, chat.user_id) == []
    async with engine.connect() as connection:
        left = await connection.scalar(
            select(usage_charges.c.usage_id).where(
                usage_charges.c.usage_id.not_in(select(usage_records.c.id))
            )
        )
    assert left is None
