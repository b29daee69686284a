"""The data life cycle: leases (one retention sweeper at a time), and the indexes that keep a
user's erasure and the retention sweep from scanning whole tables.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from chatservice.adapters.sqlalchemy.column_types import (
    IDEMPOTENCY_KEY_COLUMN_CHARS,
    Identifier,
    UtcDateTime,
)
from chatservice.adapters.sqlalchemy.dialects import MYSQL_TABLE_OPTIONS
from chatservice.adapters.sqlalchemy.tables import LEASE_NAME_CHARS

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXES = {
    "ix_chats_updated_at": ("chats", ["updated_at"]),
    "ix_whatsapp_messages_sender": ("whatsapp_messages", ["sender"]),
    "ix_whatsapp_messages_received_at": ("whatsapp_messages", ["received_at"]),
}


def upgrade() -> None:
    # Indexes and a new table only: SQLite takes them without copying a table.
    for name, (table, columns) in _INDEXES.items():
        op.create_index(name, table, columns)
    op.create_table(
        "leases",
        sa.Column("name", Identifier(LEASE_NAME_CHARS), primary_key=True),
        sa.Column("holder", Identifier(IDEMPOTENCY_KEY_COLUMN_CHARS), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        **MYSQL_TABLE_OPTIONS,
    )


def downgrade() -> None:
    op.drop_table("leases")
    for name, (table, _) in _INDEXES.items():
        op.drop_index(name, table)
