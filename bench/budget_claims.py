"""Budget claims against the size of the ledger (docs/benchmarks.md, section 12).

What a budget claim costs (docs/operations.md, "Budgets"): one claim and its release through the
repository, timed on SQLite and MariaDB, against an account whose month holds 0, 1,000, 10,000
and 100,000 ledger rows; then claims of 16 turns at once, on one account (they take turns on its
lock row) and on 16 accounts (they do not).

Usage: `.venv/bin/python bench/budget_claims.py [--quick]` (MariaDB at
`CHATSERVICE_BENCH_MYSQL_URL`, 127.0.0.1:3306 as root by default) prints the section;
`make bench-budgets` (`bench/run.py --only budgets`) writes it into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import uvloop
from sqlalchemy import insert

from chatservice.adapters.sqlalchemy.engine import create_engine
from chatservice.adapters.sqlalchemy.migrations import AlembicMigrations
from chatservice.adapters.sqlalchemy.repository import SqlAlchemyChatRepository
from chatservice.adapters.sqlalchemy.tables import usage_records
from chatservice.domain.budgets import Account, AccountKind, BudgetClaim, Spend
from chatservice.domain.tenants import Budget

NOW = datetime(2026, 6, 28, 12, tzinfo=UTC)
LEDGER_SIZES = (0, 1_000, 10_000, 100_000)
#: Far above anything spent here: every claim is admitted.
BUDGET = Budget(tokens_per_day=10**15, usd_per_month=Decimal(10**9))
CONCURRENT = 16
#: Claims timed for each median (the first claims of the day are a quarter of them), and rounds
#: of `CONCURRENT` claims at once; `--quick` takes a tenth and a sixth.
CLAIMS = 200
ROUNDS = 30


@dataclass(frozen=True)
class LedgerTiming:
    """Median ms of a claim and its release on an account with `rows` ledger rows this month."""

    database: str
    rows: int
    day_limit: float
    month_limit: float
    #: The first claim of the day in a process: it reads the month's settled days too.
    month_limit_first: float


@dataclass(frozen=True)
class ConcurrentClaims:
    """Claims and releases a second, `CONCURRENT` at once, on one account and on as many."""

    database: str
    one_account: float
    many_accounts: float


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


async def median_ms(
    repositories: Callable[[], SqlAlchemyChatRepository], account: Account, times: int
) -> float:
    """The median of `times` claims and releases, each through the repository `repositories`
    gives (the same one, or a new one that knows no settled days)."""
    laps = []
    for _ in range(times):
        repository = repositories()
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


async def measure(
    name: str, url: str, quick: bool, progress: Callable[[str], None]
) -> tuple[list[LedgerTiming], ConcurrentClaims]:
    times = CLAIMS // 10 if quick else CLAIMS
    engine = create_engine(url)
    repository = SqlAlchemyChatRepository(engine, 0)
    timings = []
    try:
        for size in LEDGER_SIZES[:2] if quick else LEDGER_SIZES:
            progress(f"budget claims on {name}: {size:,} ledger rows")
            user = f"bench-{uuid.uuid4().hex[:8]}"
            await fill_ledger(url, user, size)
            by_month = Account(AccountKind.USER, user, BUDGET)
            by_day = Account(AccountKind.USER, user, Budget(tokens_per_day=10**15))
            await claim_and_release(repository, by_month)  # the lock row made, the pool warm
            timings.append(
                LedgerTiming(
                    name,
                    size,
                    day_limit=await median_ms(lambda: repository, by_day, times),
                    month_limit=await median_ms(lambda: repository, by_month, times),
                    month_limit_first=await median_ms(
                        lambda: SqlAlchemyChatRepository(engine, 0), by_month, times // 4
                    ),
                )
            )
        progress(f"budget claims on {name}: {CONCURRENT} at once")
        shared = Account(AccountKind.TOKEN, f"bench-{uuid.uuid4().hex[:8]}", BUDGET)
        apart = [
            Account(AccountKind.USER, f"bench-{n}-{uuid.uuid4().hex[:6]}", BUDGET)
            for n in range(CONCURRENT)
        ]
        await concurrent_rate(repository, [shared], 1)
        await concurrent_rate(repository, apart, 1)
        rounds = ROUNDS // 6 if quick else ROUNDS
        one = await concurrent_rate(repository, [shared] * CONCURRENT, rounds)
        many = await concurrent_rate(repository, apart, rounds)
    finally:
        await engine.dispose()
    return timings, ConcurrentClaims(name, one, many)


def budget_cost(
    databases: dict[str, str], quick: bool, progress: Callable[[str], None]
) -> tuple[list[LedgerTiming], list[ConcurrentClaims]]:
    """Budget claims timed on each of `databases` (name -> URL of a migrated database)."""
    timings, concurrent = [], []
    for name, url in databases.items():
        by_size, at_once = uvloop.run(measure(name, url, quick, progress))
        timings += by_size
        concurrent.append(at_once)
    return timings, concurrent


def budgets_section(
    timings: list[LedgerTiming], concurrent: list[ConcurrentClaims], machine: str
) -> list[str]:
    """The budget claims section of docs/benchmarks.md."""
    lines = [
        "## 12. Budget claims against the size of the ledger",
        "",
        "One claim and its release through the repository, as a turn on an account with a limit",
        'runs them (docs/operations.md, "Budgets"), on a user whose month already holds 0 to',
        "100,000 ledger rows, spread evenly over the month's last 27 days up to today. With a",
        "daily token limit the claim reads today's rows; with a monthly USD limit, yesterday's",
        "and today's, and the USD of the month's earlier days, which no longer change, once per",
        "process and day: the last column is that first claim of the day, a new process's.",
        f"Medians of {CLAIMS} claims ({CLAIMS // 4} for the first of the day) after one to warm up.",
        "Flat in the month's rows is the goal (docs/adr/0015-budget-reserves-under-a-lock-row.md);",
        "the cost may follow the account's rows of today and yesterday. Then claims of",
        f"{CONCURRENT} turns at once ({ROUNDS} rounds): on one account they take turns on its lock",
        f"row, on {CONCURRENT} accounts they need not. This section alone: `make bench-budgets`",
        "(`.venv/bin/python bench/run.py --only budgets`).",
        "",
        f"Measured: {machine}.",
        "",
        "| database | ledger rows of the account this month | daily limit, median ms "
        "| monthly limit, median ms | monthly limit, first claim of the day, median ms |",
        "|---|---|---|---|---|",
    ]
    for t in timings:
        lines.append(
            f"| {t.database} | {t.rows:,} | {t.day_limit:.2f} | {t.month_limit:.2f} "
            f"| {t.month_limit_first:.2f} |"
        )
    lines += [
        "",
        f"| database | {CONCURRENT} at once on one account, claims/s "
        f"| on {CONCURRENT} accounts, claims/s | ratio |",
        "|---|---|---|---|",
    ]
    for c in concurrent:
        lines.append(
            f"| {c.database} | {c.one_account:.0f} | {c.many_accounts:.0f} "
            f"| {c.many_accounts / c.one_account:.2f} × |"
        )
    return lines


def main(quick: bool) -> None:
    from run import machine, progress  # bench/, this script's folder, is on the path
    from services import mariadb_database

    with tempfile.TemporaryDirectory() as folder:
        sqlite_url = f"sqlite+aiosqlite:///{folder}/budgets.db"
        AlembicMigrations(sqlite_url).upgrade_to_head()
        with mariadb_database() as mariadb_url:
            timings, concurrent = budget_cost(
                {"SQLite": sqlite_url, "MariaDB": mariadb_url}, quick, progress
            )
    print("\n".join(budgets_section(timings, concurrent, machine())))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    main(parser.parse_args().quick)
