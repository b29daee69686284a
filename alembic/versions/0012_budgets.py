"""Budgets: the reserves of running turns against each account, and a lock row per account that
claims on it take turns on.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from chatservice.adapters.sqlalchemy.column_types import (
    ID_CHARS,
    IDEMPOTENCY_KEY_COLUMN_CHARS,
    Identifier,
    Picodollars,
    UtcDateTime,
)
from chatservice.adapters.sqlalchemy.dialects import MYSQL_TABLE_OPTIONS
from chatservice.adapters.sqlalchemy.tables import BUDGET_ACCOUNT_CHARS

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # New tables only. Turns already running when a budget is first set reserved nothing; their
    # usage counts once they are stored.
    op.create_table(
        "budget_reserves",
        sa.Column("chat_id", Identifier(ID_CHARS), nullable=False),
        sa.Column("idempotency_key", Identifier(IDEMPOTENCY_KEY_COLUMN_CHARS), nullable=False),
        sa.Column("account", Identifier(BUDGET_ACCOUNT_CHARS), nullable=False),
        sa.Column("tokens", sa.BigInteger(), nullable=False),
        sa.Column("cost_picodollars", Picodollars(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("chat_id", "idempotency_key", "account"),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_index(
        "ix_budget_reserves_account_expires_at", "budget_reserves", ["account", "expires_at"]
    )
    op.create_table(
        "budget_locks",
        sa.Column("account", Identifier(BUDGET_ACCOUNT_CHARS), nullable=False),
        sa.Column("claims", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("account"),
        **MYSQL_TABLE_OPTIONS,
    )


def downgrade() -> None:
    op.drop_table("budget_locks")
    op.drop_table("budget_reserves")
