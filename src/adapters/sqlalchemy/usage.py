"""The SQL of the usage ledger (`usage_records`, `usage_charges`), for `SqlAlchemyChatRepository`.

A call is recorded inside the transaction that stores its outcome (a turn's commit, a summary),
so the ledger holds exactly the calls whose outcome was stored. Reports are summed by the
database (`GROUP BY`), over the user's days through the `(user_id, day)` index; money is summed
as whole picodollars, exactly. Each function runs inside one of the repository's transactions.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select

from chatservice.adapters.sqlalchemy.column_types import Picodollars
from chatservice.adapters.sqlalchemy.tables import usage_charges, usage_records
from chatservice.domain.usage import GroupBy, PaidCall, UsageFigures, UsageGroup

_GROUP_COLUMNS = {GroupBy.DAY: usage_records.c.day, GroupBy.MODEL: usage_records.c.model}
# Built once, as a turn's statements are (`turns.py`): every turn's commit records its call.
_RECORD = insert(usage_records)
_CHARGE = insert(usage_charges)


def record_call(connection: Connection, user_id: str, chat_id: str, call: PaidCall) -> None:
    """Add `call` to the user's ledger, charged to each of its tenants."""
    usage = call.usage
    inserted = connection.execute(
        _RECORD,
        {
            "user_id": user_id,
            "chat_id": chat_id,
            "kind": call.kind.value,
            "model": call.model,
            "at": call.at,
            "day": call.day,
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "cached_prompt_tokens": usage.cached_prompt_tokens,
            "cost": usage.cost,
        },
    )
    if call.charged_to:
        key = inserted.inserted_primary_key
        assert key is not None  # a single-row insert's
        usage_id = key[0]
        connection.execute(
            _CHARGE,
            [
                {
                    "usage_id": usage_id,
                    "token_name": name,
                    "day": call.day,
                    "tokens": call.tokens,
                    "cost": usage.cost,
                }
                for name in call.charged_to
            ],
        )


def delete_user_calls(connection: Connection, user_id: str, limit: int) -> int:
    """Remove up to `limit` of the user's calls; their charges go by the foreign key's cascade
    (enforced on SQLite too: `engine.py` turns foreign keys on)."""
    chosen = list(
        connection.scalars(
            select(usage_records.c.id).where(usage_records.c.user_id == user_id).limit(limit)
        )
    )
    if not chosen:
        return 0
    return connection.execute(delete(usage_records).where(usage_records.c.id.in_(chosen))).rowcount


def report(
    connection: Connection, user_id: str, first_day: date, last_day: date, group_by: GroupBy
) -> list[UsageGroup]:
    """The user's calls of those days, summed per group in the database, ordered by group."""
    key = _GROUP_COLUMNS[group_by]
    query = (
        select(
            key.label("key"),
            func.count().label("calls"),
            func.sum(usage_records.c.prompt_tokens).label("prompt_tokens"),
            func.sum(usage_records.c.completion_tokens).label("completion_tokens"),
            func.sum(usage_records.c.cached_prompt_tokens).label("cached_prompt_tokens"),
            # Summed as BIGINT picodollars, read back as exact USD.
            func.sum(usage_records.c.cost, type_=Picodollars()).label("cost"),
        )
        .where(
            usage_records.c.user_id == user_id,
            usage_records.c.day >= first_day,
            usage_records.c.day <= last_day,
        )
        .group_by(key)
        .order_by(key)
    )
    return [_group(row, group_by) for row in connection.execute(query)]


def _group(row: Any, group_by: GroupBy) -> UsageGroup:  # a Row of the report's columns
    key = row.key.isoformat() if group_by is GroupBy.DAY else row.key
    figures = UsageFigures(
        int(row.calls),
        int(row.prompt_tokens),
        int(row.completion_tokens),
        int(row.cached_prompt_tokens),
        row.cost,
    )
    return UsageGroup(key, figures)
