"""The usage ledger: a row per model call paid for (a reply or a summary), and what each counts
against the scoped tokens covering its user; reports group them, budgets sum them.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from chatservice.adapters.sqlalchemy.column_types import (
    ID_CHARS,
    USER_ID_CHARS,
    Identifier,
    Picodollars,
    UtcDateTime,
    short_text,
)
from chatservice.adapters.sqlalchemy.dialects import MYSQL_TABLE_OPTIONS
from chatservice.adapters.sqlalchemy.tables import TOKEN_NAME_CHARS
from chatservice.domain.chat import MODEL_NAME_CHARS

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # New tables only. The calls made before there was a ledger are not in it: their replies
    # keep their cost, but no report or budget counts them.
    op.create_table(
        "usage_records",
        sa.Column("id", _ROW_ID, primary_key=True, autoincrement=True),
        sa.Column("user_id", Identifier(USER_ID_CHARS), nullable=False),
        sa.Column("chat_id", Identifier(ID_CHARS), nullable=False),
        sa.Column("kind", short_text(16), nullable=False),
        sa.Column("model", short_text(MODEL_NAME_CHARS), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("prompt_tokens", sa.BigInteger(), nullable=False),
        sa.Column("completion_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cached_prompt_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cost_picodollars", Picodollars(), nullable=False),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_index("ix_usage_records_user_id_day", "usage_records", ["user_id", "day"])
    op.create_table(
        "usage_charges",
        sa.Column(
            "usage_id",
            _ROW_ID,
            sa.ForeignKey(
                "usage_records.id",
                name="fk_usage_charges_usage_id_usage_records",
                ondelete="CASCADE",
            ),
            nullable=False,
        ),
        sa.Column("token_name", Identifier(TOKEN_NAME_CHARS), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("tokens", sa.BigInteger(), nullable=False),
        sa.Column("cost_picodollars", Picodollars(), nullable=False),
        sa.PrimaryKeyConstraint("usage_id", "token_name"),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_index("ix_usage_charges_token_name_day", "usage_charges", ["token_name", "day"])


def downgrade() -> None:
    op.drop_table("usage_charges")
    op.drop_table("usage_records")
