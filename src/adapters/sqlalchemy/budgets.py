"""Budget claims in SQL: what an account spent (the usage ledger since its period began, plus the
unexpired reserves of running turns), and a turn's reserves, claimed or refused in one short
transaction (docs/adr/0015-budget-reserves-under-a-lock-row.md).

A claim first updates the `budget_locks` row of each of its accounts, in key order. The row lock
makes claims on one account take turns on one database; on Galera two nodes' updates of the row
conflict at certification and the loser rolls back whole (`WriteConflict`, run again by the
caller). Only after the locks does the claim read: on MariaDB's REPEATABLE READ the snapshot is
taken at a transaction's first plain read, so it then holds every claim committed before this
one got its locks. SQLite runs one write transaction at a time anyway.

Accounts are keyed by a hash of the account, so no row of these tables holds a user id.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    bindparam,
    case,
    delete,
    exc,
    func,
    insert,
    select,
    update,
)

from chatservice.adapters.sqlalchemy.tables import (
    budget_locks,
    budget_reserves,
    usage_charges,
    usage_records,
)
from chatservice.adapters.sqlalchemy.transactions import WriteConflict
from chatservice.domain.budgets import Account, AccountKind, BudgetClaim, Spend
from chatservice.domain.prices import ZERO

#: How many days before today the settled days of the month end (`SettledSpend`).
SETTLED_AGO = timedelta(days=2)
#: The longest pause, in seconds, before each new attempt of a claim that lost its lock row to
#: another (a random part of it, so that claims that collided do not collide again in step).
#: Claims on one account through two Galera nodes conflict at every overlap: with a dozen at
#: once, five attempts without pauses were not always enough. After the last, the turn is 409.
CONFLICT_PAUSES = (0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.2, 0.2, 0.2, 0.2)

_LOCK = (
    update(budget_locks)
    .where(budget_locks.c.account == bindparam("key"))
    .values(claims=budget_locks.c.claims + 1)
)
_RESERVED = select(
    func.coalesce(func.sum(budget_reserves.c.tokens), 0),
    func.coalesce(func.sum(budget_reserves.c.cost), 0),
).where(
    budget_reserves.c.account == bindparam("key"), budget_reserves.c.expires_at > bindparam("now")
)
_PRUNE = delete(budget_reserves).where(
    budget_reserves.c.account == bindparam("key"), budget_reserves.c.expires_at <= bindparam("now")
)
_RENEW = (
    update(budget_reserves)
    .where(
        budget_reserves.c.chat_id == bindparam("chat"),
        budget_reserves.c.idempotency_key == bindparam("turn"),
    )
    .values(expires_at=bindparam("expires"))
)
_RELEASE = delete(budget_reserves).where(
    budget_reserves.c.chat_id == bindparam("chat"),
    budget_reserves.c.idempotency_key == bindparam("turn"),
)


def account_key(account: Account) -> str:
    """The account as the budget tables key it: its kind's letter and the SHA-256 of its key."""
    return account.kind.value[0] + hashlib.sha256(account.key.encode()).hexdigest()


def claim(connection: Connection, budget_claim: BudgetClaim, settled: SettledSpend) -> None:
    """Reserve `budget_claim.reserve` against each of its accounts, or raise the refusal
    (`BudgetExhausted`, reserving nothing) when any of them has reached a limit."""
    keys = {account.key: account_key(account) for account in budget_claim.accounts}
    for key in sorted(keys.values()):  # one order for every claim: no deadlock between two
        _lock(connection, key)
    spent = {
        account.key: _used(connection, account, budget_claim, settled)
        + _reserved(connection, keys[account.key], budget_claim.now)
        for account in budget_claim.accounts
    }
    if refusal := budget_claim.refusal(spent):
        raise refusal
    for key in keys.values():
        connection.execute(_PRUNE, {"key": key, "now": budget_claim.now})
    connection.execute(
        insert(budget_reserves),
        [
            {
                "chat_id": budget_claim.chat_id,
                "idempotency_key": budget_claim.idempotency_key,
                "account": key,
                "tokens": budget_claim.reserve.tokens,
                "cost": budget_claim.reserve.cost,
                "expires_at": budget_claim.expires_at,
            }
            for key in keys.values()
        ],
    )


def renew(connection: Connection, chat_id: str, idempotency_key: str, expires_at: datetime) -> None:
    """Hold the reserves of the turn of `idempotency_key` in the chat until `expires_at`."""
    connection.execute(_RENEW, {"chat": chat_id, "turn": idempotency_key, "expires": expires_at})


def release(connection: Connection, chat_id: str, idempotency_key: str) -> None:
    """Give back the reserves of the turn of `idempotency_key` in the chat, if it has any."""
    connection.execute(_RELEASE, {"chat": chat_id, "turn": idempotency_key})


def _lock(connection: Connection, key: str) -> None:
    if connection.execute(_LOCK, {"key": key}).rowcount == 1:
        return
    # The account's first claim: a concurrent first one collides with the primary key, and
    # loses like any claim that another got the lock row before: it runs again, finding the row.
    try:
        connection.execute(insert(budget_locks).values(account=key, claims=1))
    except exc.IntegrityError as error:
        raise WriteConflict("another claim made the account's lock row first") from error


def _used(
    connection: Connection, account: Account, budget_claim: BudgetClaim, settled: SettledSpend
) -> Spend:
    """What the ledger holds of the account's usage: tokens since the day began, USD since the
    month began (the settled days' USD from `settled`; only the days its limits count are
    read)."""
    ledger = _LEDGERS[account.kind]
    since, settled_cost = budget_claim.since(account), ZERO
    through = budget_claim.day - SETTLED_AGO
    if account.budget.usd_per_month > 0 and through >= budget_claim.month:
        settled_cost = settled.cost(connection, account, ledger, budget_claim.month, through)
        since = through + timedelta(days=1)
    row = connection.execute(
        ledger.used, {"name": account.name, "today": budget_claim.day, "since": since}
    ).one()
    return Spend(int(row[0]), settled_cost + row[1])


@dataclass(frozen=True)
class _Ledger:
    """The ledger of one kind of account, a user's calls or the charges to a tenant, as the two
    statements a claim reads it with, built once (as a turn's are, `turns.py`): building one
    took longer than running it did."""

    #: The account `:name`'s tokens from day `:today` on and USD from day `:since` on.
    used: Select[Any]
    #: The account `:name`'s USD from day `:first` through day `:last`.
    settled: Select[Any]

    @classmethod
    def of(
        cls,
        owner: ColumnElement[str],
        day: ColumnElement[date],
        tokens: ColumnElement[int],
        cost: ColumnElement[Decimal],
    ) -> _Ledger:
        """The ledger whose rows `owner` names the account of, each counting in its `day`."""
        owned = owner == bindparam("name")
        return cls(
            select(
                func.coalesce(func.sum(case((day >= bindparam("today"), tokens), else_=0)), 0),
                func.coalesce(func.sum(cost), 0),
            ).where(owned, day >= bindparam("since")),
            select(func.coalesce(func.sum(cost), 0)).where(
                owned, day >= bindparam("first"), day <= bindparam("last")
            ),
        )


_LEDGERS = {
    AccountKind.USER: _Ledger.of(
        usage_records.c.user_id,
        usage_records.c.day,
        usage_records.c.prompt_tokens + usage_records.c.completion_tokens,
        usage_records.c.cost,
    ),
    AccountKind.TOKEN: _Ledger.of(
        usage_charges.c.token_name,
        usage_charges.c.day,
        usage_charges.c.tokens,
        usage_charges.c.cost,
    ),
}


class SettledSpend:
    """What each account spent in USD on the settled days of the month, kept by this process.

    A day is settled from the day after next on: a call is stored within a claim's TTL (minutes)
    of its time, so no row for the day comes later, and a claim need read only the days since.
    Without it, a claim on an account with a monthly limit read the whole month's rows under the
    account's lock: 94 ms a claim at 100,000 rows (bench/budget_claims.py). A user's erasure
    that removes rows of settled days is seen from the next day on, when the settled days move;
    until then the account counts as spent what the erased user spent (never less).
    """

    def __init__(self, entries: int = 10_000) -> None:
        self._entries = entries
        self._sums: dict[tuple[str, date, date], Decimal] = {}

    def cost(
        self, connection: Connection, account: Account, ledger: _Ledger, first: date, last: date
    ) -> Decimal:
        """The account's USD from day `first` through `last`, read once."""
        key = (account.key, first, last)
        if (found := self._sums.get(key)) is None:
            days = {"name": account.name, "first": first, "last": last}
            found = connection.execute(ledger.settled, days).scalar_one()
            if len(self._sums) >= self._entries:  # the oldest goes: its days are likely past
                del self._sums[next(iter(self._sums))]
            self._sums[key] = found
        return found


def _reserved(connection: Connection, key: str, now: datetime) -> Spend:
    row = connection.execute(_RESERVED, {"key": key, "now": now}).one()
    return Spend(int(row[0]), row[1])
