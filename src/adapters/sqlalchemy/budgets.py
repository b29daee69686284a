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
from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    bindparam,
    case,
    delete,
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
from chatservice.domain.budgets import Account, AccountKind, BudgetClaim, Spend

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
_RELEASE = delete(budget_reserves).where(
    budget_reserves.c.chat_id == bindparam("chat"),
    budget_reserves.c.idempotency_key == bindparam("turn"),
)


def account_key(account: Account) -> str:
    """The account as the budget tables key it: its kind's letter and the SHA-256 of its key."""
    return account.kind.value[0] + hashlib.sha256(account.key.encode()).hexdigest()


def claim(connection: Connection, budget_claim: BudgetClaim) -> None:
    """Reserve `budget_claim.reserve` against each of its accounts, or raise the refusal
    (`BudgetExhausted`, reserving nothing) when any of them has reached a limit."""
    keys = {account.key: account_key(account) for account in budget_claim.accounts}
    for key in sorted(keys.values()):  # one order for every claim: no deadlock between two
        _lock(connection, key)
    spent = {
        account.key: _used(connection, account, budget_claim)
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


def release(connection: Connection, chat_id: str, idempotency_key: str) -> None:
    """Give back the reserves of the turn of `idempotency_key` in the chat, if it has any."""
    connection.execute(_RELEASE, {"chat": chat_id, "turn": idempotency_key})


def _lock(connection: Connection, key: str) -> None:
    if connection.execute(_LOCK, {"key": key}).rowcount == 1:
        return
    # The account's first claim: a concurrent first one collides with the primary key
    # (`IntegrityError`) and its claim runs again, finding the row.
    connection.execute(insert(budget_locks).values(account=key, claims=1))


def _used(connection: Connection, account: Account, budget_claim: BudgetClaim) -> Spend:
    """What the ledger holds of the account's usage: tokens since the day began, USD since the
    month began (only the days its limits count are read)."""
    if account.kind is AccountKind.USER:
        day, owner = usage_records.c.day, usage_records.c.user_id == account.name
        tokens = usage_records.c.prompt_tokens + usage_records.c.completion_tokens
        cost: ColumnElement[Decimal] = usage_records.c.cost
    else:
        day, owner = usage_charges.c.day, usage_charges.c.token_name == account.name
        tokens, cost = usage_charges.c.tokens, usage_charges.c.cost
    row = connection.execute(
        select(
            func.coalesce(func.sum(case((day >= budget_claim.day, tokens), else_=0)), 0),
            func.coalesce(func.sum(cost), 0),
        ).where(and_(owner, day >= budget_claim.since(account)))
    ).one()
    return Spend(int(row[0]), row[1])


def _reserved(connection: Connection, key: str, now: datetime) -> Spend:
    row = connection.execute(_RESERVED, {"key": key, "now": now}).one()
    return Spend(int(row[0]), row[1])
