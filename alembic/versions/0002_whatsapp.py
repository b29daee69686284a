"""WhatsApp: each sender's current chat, and the inbound messages already taken.

Revision ID: 0002
Revises: 0001
Create Date: 2025-02-01 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from chatservice.adapters.sqlalchemy.column_types import (
    ID_CHARS,
    USER_ID_CHARS,
    Identifier,
    UtcDateTime,
)
from chatservice.adapters.sqlalchemy.dialects import MYSQL_TABLE_OPTIONS
from chatservice.adapters.sqlalchemy.tables import MESSAGE_SID_CHARS

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # New tables only: no ALTER of an existing one, so SQLite needs no batch copy here.
    op.create_table(
        "whatsapp_senders",
        sa.Column("sender", Identifier(USER_ID_CHARS), nullable=False),
        sa.Column("chat_id", Identifier(ID_CHARS), nullable=False),
        sa.Column("since", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["chat_id"], ["chats.id"], name="fk_whatsapp_senders_chat_id_chats", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("sender"),
        sa.UniqueConstraint("chat_id", name="uq_whatsapp_senders_chat_id"),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_table(
        "whatsapp_messages",
        sa.Column("message_sid", Identifier(MESSAGE_SID_CHARS), nullable=False),
        sa.Column("sender", Identifier(USER_ID_CHARS), nullable=False),
        sa.Column("received_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("message_sid"),
        **MYSQL_TABLE_OPTIONS,
    )


def downgrade() -> None:
    op.drop_table("whatsapp_messages")
    op.drop_table("whatsapp_senders")
