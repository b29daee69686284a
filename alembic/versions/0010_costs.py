"""Costs: each reply's cached prompt tokens and cost, and the sums on its chat and its chat's
summaries, in picodollars (10^-12 USD) so that every database keeps and sums them exactly.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SUMS = ("chats", "chat_summaries")


def upgrade() -> None:
    # Added columns with constant defaults: SQLite takes them without copying a table, MariaDB
    # in place. What was stored before there were prices reads as cost 0 (sums) or unknown
    # (a reply's NULL).
    for table in _SUMS:
        op.add_column(
            table,
            sa.Column("cached_prompt_tokens", sa.BigInteger(), nullable=False, server_default="0"),
        )
        op.add_column(
            table,
            sa.Column("cost_picodollars", sa.BigInteger(), nullable=False, server_default="0"),
        )
    op.add_column("messages", sa.Column("cached_prompt_tokens", sa.BigInteger(), nullable=True))
    op.add_column("messages", sa.Column("cost_picodollars", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    for table in (*_SUMS, "messages"):
        with op.batch_alter_table(table) as columns:
            columns.drop_column("cost_picodollars")
            columns.drop_column("cached_prompt_tokens")
