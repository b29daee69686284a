"""Budgets under a race: two replicas of the service (two containers, each with its own engine,
pool, window cache and model, on one database) take many turns of one budget at once, on several
chats, against a small budget. What the ledger holds afterwards never passes the budget by more
than one turn's reserve; the turns past it were refused with 429 `budget_exhausted` and a
`Retry-After`; and no reserve is left behind.

The first wave of turns is held by each replica's model before its first chunk
(`FakeChatGateway.hold`): every admitted turn then holds its reserve at once, so the refusals of
that wave come from reserves claimed concurrently through both replicas. The test waits until
each turn is refused or held, and the replicas' clock is fixed to one day of the month, so
nothing depends on timing or on when the test runs.

The race runs on SQLite and MariaDB, and with each replica on its own node of the three-node
Galera test cluster, where claims through two nodes conflict at certification.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from chatservice.adapters.fake_gateway import FakeChatGateway
from chatservice.adapters.sqlalchemy.budgets import account_key
from chatservice.adapters.sqlalchemy.tables import budget_reserves, usage_charges, usage_records
from chatservice.application.clock import utc_now
from chatservice.domain.budgets import Account, AccountKind, month_end
from chatservice.domain.models import ModelRegistry
from chatservice.domain.prices import cost_of
from chatservice.domain.tenants import Budget
from support.containers import provided
from support.galera import GaleraCluster
from support.http import AUTH, Api, ApiFactory, api_factory
from support.waiting import eventually

#: The room a turn leaves for its reply: its reserve is its prompt (some 25 tokens) and this.
REPLY_TOKENS = 16
CHATS_PER_REPLICA = 6
#: Waves of one turn per chat at once: the first held at the model, the others not.
WAVES = 3
#: Where the replicas' clock stands, moving on from there in real time.
NOON = datetime(2026, 12, 16, 12, tzinfo=UTC)
PRICES = ModelRegistry().lookup("gpt-4o-mini").prices


class NoonClock:
    """Real time, moved to start at `NOON`: every turn of the test falls in one day."""

    def __init__(self) -> None:
        self._offset = NOON - utc_now()

    def __call__(self) -> datetime:
        return utc_now() + self._offset


@dataclass(frozen=True)
class Race:
    """A budget to race against: the settings that set it, and the users it limits."""

    account: Account
    settings: dict[str, Any]
    users: tuple[str, ...]

    def spent(self, records: Sequence[Any], charged: int) -> int | Decimal:
        """What the ledger holds against the budget, in its unit."""
        if self.account.kind is AccountKind.TOKEN:
            return charged
        if self.account.budget.tokens_per_day:
            return sum(r.prompt_tokens + r.completion_tokens for r in records)
        return sum((r.cost for r in records), Decimal(0))

    def largest_reserve(self, records: Sequence[Any]) -> int | Decimal:
        """The largest reserve of the turns stored: a prompt and the whole reply room."""
        largest_prompt = max(r.prompt_tokens for r in records)
        if self.account.budget.tokens_per_day:
            return largest_prompt + REPLY_TOKENS
        return cost_of(PRICES, largest_prompt, REPLY_TOKENS)

    @property
    def limit(self) -> int | Decimal:
        budget = self.account.budget
        return budget.tokens_per_day or budget.usd_per_month


def race_of(kind: str, request: pytest.FixtureRequest) -> Race:
    tag = zlib.crc32(request.node.nodeid.encode())
    if kind == "tenant-tokens":
        name = f"race-{tag}"
        budget = Budget(tokens_per_day=300)
        token = {
            "name": name,
            "token_env": "RACE_TOKEN",
            "token": f"race-token-{tag}",
            "users": f"{name}:*",
            "budget_tokens_per_day_per_user": budget.tokens_per_day,
        }
        account = Account(AccountKind.TOKEN, name, budget)
        return Race(account, {"tokens": [token]}, (f"{name}:ann", f"{name}:bob"))
    user = f"race-{tag}"
    if kind == "user-tokens":
        budget = Budget(tokens_per_day=300)
        settings: dict[str, Any] = {"budget_tokens_per_day_per_user": budget.tokens_per_day}
    else:
        budget = Budget(usd_per_month=Decimal("0.00004"))
        settings = {"budget_usd_per_month_per_user": str(budget.usd_per_month)}
    return Race(Account(AccountKind.USER, user, budget), settings, (user,))


@dataclass(frozen=True)
class Seat:
    """A chat of one of the race's users, on the replica its turns go to."""

    api: Api
    user: str
    chat_id: str

    async def turn(self, wave: int) -> httpx.Response:
        return await self.api.client.post(
            f"/v1/users/{self.user}/chats/{self.chat_id}/messages",
            json={"content": f"wave {wave}: how are you?"},
            headers=AUTH,
        )


def model_of(api: Api) -> FakeChatGateway:
    return provided(api.container.gateway, FakeChatGateway)


@asynccontextmanager
async def causal(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection that reads every write committed before (on a Galera node, what other
    nodes committed too)."""
    async with engine.connect() as connection:
        if engine.dialect.name != "sqlite" and await connection.scalar(text("SELECT @@wsrep_on")):
            await connection.execute(text("SET SESSION wsrep_sync_wait = 1"))
        yield connection


async def reserve_rows(engine: AsyncEngine, account: Account) -> int:
    query = select(func.count()).where(budget_reserves.c.account == account_key(account))
    async with causal(engine) as connection:
        return int((await connection.execute(query)).scalar_one())


async def ledger(engine: AsyncEngine, race: Race) -> tuple[list[Any], int]:
    """The race's users' usage records, and what was charged to its tenant."""
    records = select(usage_records).where(usage_records.c.user_id.in_(race.users))
    charged = select(func.coalesce(func.sum(usage_charges.c.tokens), 0)).where(
        usage_charges.c.token_name == race.account.name
    )
    async with causal(engine) as connection:
        rows = list(await connection.execute(records))
        return rows, int((await connection.execute(charged)).scalar_one())


def check_refusal(response: httpx.Response, race: Race) -> None:
    assert response.json()["error"]["code"] == "budget_exhausted", response.text
    retry_after = int(response.headers["retry-after"])
    if race.account.budget.tokens_per_day:  # until midnight, from some time after noon
        assert 0 < retry_after <= 12 * 3600
    else:  # until the month ends
        assert 0 < retry_after <= (month_end(NOON) - NOON).total_seconds()


KINDS = ["user-tokens", "user-usd", "tenant-tokens"]


async def race_through(one: Api, other: Api, race: Race) -> None:
    """Waves of one turn per chat at once through both replicas, the first held at the model;
    then the checks."""
    seats = [
        Seat(api, user, (await api.new_chat(user))["id"])
        for api in (one, other)
        for n in range(CHATS_PER_REPLICA)
        for user in [race.users[n % len(race.users)]]
    ]
    holds = [model_of(api).hold(after_chunks=0) for api in (one, other)]
    first = [asyncio.create_task(seat.turn(1)) for seat in seats]
    await eventually(
        lambda: sum(t.done() for t in first) + sum(h.waiting for h in holds) == len(seats),
        "every turn of the first wave refused or held at the model",
    )
    held = sum(h.waiting for h in holds)
    # Each turn running holds one reserve against the budget.
    assert await reserve_rows(one.container.engine(), race.account) == held
    for hold in holds:
        hold.release()
    responses = await asyncio.gather(*first)
    for wave in range(2, WAVES + 1):
        responses += await asyncio.gather(*(seat.turn(wave) for seat in seats))

    statuses = [r.status_code for r in responses]
    assert set(statuses) == {200, 429}, [r.text for r in responses if r.status_code != 200]
    assert statuses[: len(seats)].count(200) == held
    for refused in (r for r in responses if r.status_code == 429):
        check_refusal(refused, race)
    records, charged = await ledger(one.container.engine(), race)
    assert len(records) == statuses.count(200)
    spent, limit = race.spent(records, charged), race.limit
    assert limit <= spent <= limit + race.largest_reserve(records)
    assert await reserve_rows(other.container.engine(), race.account) == 0


@pytest.mark.parametrize("kind", KINDS)
async def test_two_replicas_racing_one_budget_pass_it_by_one_turns_reserve_at_most(
    open_api: ApiFactory, kind: str, request: pytest.FixtureRequest
) -> None:
    race = race_of(kind, request)
    clock = NoonClock()
    settings = {**race.settings, "max_completion_tokens": REPLY_TOKENS}
    async with open_api(clock, **settings) as one, open_api(clock, **settings) as other:
        await race_through(one, other, race)


@pytest.mark.parametrize("kind", KINDS)
async def test_replicas_on_two_galera_nodes_racing_one_budget_pass_it_by_one_reserve_at_most(
    migrated_galera_cluster: GaleraCluster, kind: str, request: pytest.FixtureRequest
) -> None:
    """The same race with each replica on its own node of the Galera cluster, where claims on
    one account through the two nodes conflict at certification and run again."""
    race = race_of(kind, request)
    clock = NoonClock()
    settings = {**race.settings, "max_completion_tokens": REPLY_TOKENS}
    through = (api_factory(migrated_galera_cluster.url(n)) for n in (1, 2))
    async with next(through)(clock, **settings) as one, next(through)(clock, **settings) as other:
        await race_through(one, other, race)
