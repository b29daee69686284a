"""Memory of erased context: each chat's choice of memory, and its running summary.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 13:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from chatservice.adapters.sqlalchemy.column_types import (
    ID_CHARS,
    Identifier,
    UtcDateTime,
    long_text,
    short_text,
)
from chatservice.adapters.sqlalchemy.dialects import MYSQL_TABLE_OPTIONS

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A column with a server default, and a new table: SQLite copies no table. The chats stored
    # before kept no memory, which the default says.
    op.add_column(
        "chats", sa.Column("memory", short_text(16), nullable=False, server_default="none")
    )
    op.create_table(
        "chat_summaries",
        sa.Column("chat_id", Identifier(ID_CHARS), nullable=False),
        sa.Column("content", long_text(), nullable=False),
        sa.Column("tokens", sa.Integer(), nullable=False),
        sa.Column("covers_through_position", sa.Integer(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("prompt_tokens", sa.BigInteger(), nullable=False),
        sa.Column("completion_tokens", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["chat_id"], ["chats.id"], name="fk_chat_summaries_chat_id_chats", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("chat_id"),
        **MYSQL_TABLE_OPTIONS,
    )


def downgrade() -> None:
    op.drop_table("chat_summaries")
    with op.batch_alter_table("chats") as chats:
        chats.drop_column("memory")
