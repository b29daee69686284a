"""What a budget claim costs (docs/operations.md, "Budgets"): one claim and its release through
the repository, timed on SQLite and MariaDB, against an account whose month holds 0, 1,000,
10,000 and 100,000 ledger rows; then claims of 16 turns at once, on one account (they take turns
on its lock row) and on 16 accounts (they do not).

Usage: `.venv/bin/python bench/budget_claims.py [--quick]` (MariaDB at
`CHATSERVICE_BENCH_MYSQL_URL`, 127.0.0.1:3306 as root by default). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from chatservice.adapters.sqlalchemy.engine import create_engine
from chatservice.adapters.sqlalchemy.migrations import AlembicMigrations
from chatservice.adapters.sqlalchemy.repository import SqlAlchemyChatRepository
from chatservice.adapters.sqlalchemy.tables import usage_records
from chatservice.domain.budgets import Account, AccountKind, BudgetClaim, Spend
from chatservice.domain.tenants import Budget

MYSQL_URL = os.environ.get("CHATSERVICE_BENCH_MYSQL_URL", "mysql+asyncmy://root@127.0.0.1:3306")
NOW = datetime(2026, 6, 28, 12, tzinfo=UTC)
LEDGER_SIZES = (0, 1_000, 10_000, 100_000)
#: Far above anything spent here: every claim is admitted.
BUDGET = Budget(tokens_per_day=10**15, usd_per_month=Decimal(10**9))
CONCURRENT = 16


def claim_for(account: Account) -> BudgetClaim:
    return BudgetClaim(
        str(uuid.uuid4()),
        "turn",
        (account,),
        Spend(1000, Decimal("0.001")),
        NOW,
        NOW + timedelta(minutes=2),
    )


async def claim_and_release(repository: SqlAlchemyChatRepository, account: Account) -> None:
    claim = claim_for(account)
    await repository.claim_budget(claim)
    await repository.release_turn(claim.chat_id, claim.idempotency_key)


async def fill_ledger(url: str, user_id: str, rows: int) -> None:
    """`rows` calls of `user_id` spread over this month's days up to today."""
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            for start in range(0, rows, 5000):
                batch = [
                    {
                        "user_id": user_id,
                        "chat_id": str(uuid.uuid4()),
                        "kind": "reply",
                        "model": "gpt-4o-mini",
                        "at": NOW - timedelta(days=n % 27),
                        "day": (NOW - timedelta(days=n % 27)).date(),
                        "prompt_tokens": 500,
                        "completion_tokens": 200,
                        "cached_prompt_tokens": 0,
                        "cost": Decimal("0.000195"),
                    }
                    for n in range(start, min(rows, start + 5000))
                ]
                await connection.execute(insert(usage_records), batch)
    finally:
        await engine.dispose()


async def median_ms(repository: SqlAlchemyChatRepository, account: Account, times: int) -> float:
    laps = []
    for _ in range(times):
        started = time.perf_counter()
        await claim_and_release(repository, account)
        laps.append((time.perf_counter() - started) * 1000)
    return statistics.median(laps)


async def concurrent_rate(
    repository: SqlAlchemyChatRepository, accounts: list[Account], rounds: int
) -> float:
    started = time.perf_counter()
    for _ in range(rounds):
        await asyncio.gather(*(claim_and_release(repository, a) for a in accounts))
    return rounds * len(accounts) / (time.perf_counter() - started)


async def measure(name: str, url: str, quick: bool) -> list[str]:
    times = 20 if quick else 200
    engine = create_engine(url)
    repository = SqlAlchemyChatRepository(engine, 0)
    rows = []
    try:
        for size in LEDGER_SIZES[:2] if quick else LEDGER_SIZES:
            user = f"bench-{uuid.uuid4().hex[:8]}"
            await fill_ledger(url, user, size)
            by_month = Account(AccountKind.USER, user, BUDGET)
            by_day = Account(AccountKind.USER, user, Budget(tokens_per_day=10**15))
            await claim_and_release(repository, by_month)  # the lock row made, the pool warm
            month = await median_ms(repository, by_month, times)
            day = await median_ms(repository, by_day, times)
            rows.append(f"| {name} | {size:,} | {day:.2f} ms | {month:.2f} ms |")
        shared = Account(AccountKind.TOKEN, f"bench-{uuid.uuid4().hex[:8]}", BUDGET)
        apart = [
            Account(AccountKind.USER, f"bench-{n}-{uuid.uuid4().hex[:6]}", BUDGET)
            for n in range(CONCURRENT)
        ]
        await concurrent_rate(repository, [shared], 1)
        await concurrent_rate(repository, apart, 1)
        rounds = 5 if quick else 30
        one = await concurrent_rate(repository, [shared] * CONCURRENT, rounds)
        many = await concurrent_rate(repository, apart, rounds)
        rows.append(
            f"| {name} | {CONCURRENT} at once | one account: {one:.0f} claims/s | {CONCURRENT} accounts: {many:.0f} claims/s |"
        )
    finally:
        await engine.dispose()
    return rows


async def main(quick: bool) -> None:
    rows = [
        "| database | ledger rows of the account this month | claim + release, day limit (median) | claim + release, month limit (median) |",
        "| --- | --- | --- | --- |",
    ]
    with tempfile.TemporaryDirectory() as folder:
        sqlite = f"sqlite+aiosqlite:///{folder}/bench.db"
        await asyncio.to_thread(AlembicMigrations(sqlite).upgrade_to_head)
        rows += await measure("SQLite", sqlite, quick)
    database = f"chatservice_bench_{secrets.token_hex(4)}"
    server = create_async_engine(MYSQL_URL)
    async with server.connect() as connection:
        await connection.execute(text(f"CREATE DATABASE {database} CHARACTER SET utf8mb4"))
    mariadb = make_url(MYSQL_URL).set(database=database).render_as_string(hide_password=False)
    try:
        await asyncio.to_thread(AlembicMigrations(mariadb).upgrade_to_head)
        rows += await measure("MariaDB", mariadb, quick)
    finally:
        async with server.connect() as connection:
            await connection.execute(text(f"DROP DATABASE {database}"))
        await server.dispose()
    print("\n".join(rows))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    asyncio.run(main(parser.parse_args().quick))
