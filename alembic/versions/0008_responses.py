"""The OpenAI Responses API: each response's record, and each conversation's metadata.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from chatservice.adapters.sqlalchemy.column_types import (
    ID_CHARS,
    IDEMPOTENCY_KEY_COLUMN_CHARS,
    USER_ID_CHARS,
    Identifier,
    UtcDateTime,
    json_text,
    long_text,
    short_text,
)
from chatservice.adapters.sqlalchemy.dialects import MYSQL_TABLE_OPTIONS
from chatservice.domain.chat import MODEL_NAME_CHARS
from chatservice.domain.responses import RESPONSE_ID_CHARS

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # New tables only: no ALTER of an existing one, so SQLite needs no batch copy here.
    op.create_table(
        "responses",
        sa.Column("id", Identifier(RESPONSE_ID_CHARS), nullable=False),
        sa.Column("user_id", Identifier(USER_ID_CHARS), nullable=False),
        sa.Column("chat_id", Identifier(ID_CHARS), nullable=False),
        sa.Column("request_id", Identifier(IDEMPOTENCY_KEY_COLUMN_CHARS), nullable=False),
        sa.Column("model", short_text(MODEL_NAME_CHARS), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("options", long_text(), nullable=False),
        sa.Column("metadata", json_text(), nullable=False),
        sa.Column("previous_response_id", Identifier(RESPONSE_ID_CHARS), nullable=True),
        sa.Column("in_conversation", sa.Boolean(), nullable=False),
        sa.Column("background", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["chat_id"], ["chats.id"], name="fk_responses_chat_id_chats", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id"),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_index("ix_responses_chat_id", "responses", ["chat_id"])
    op.create_table(
        "conversations",
        sa.Column("chat_id", Identifier(ID_CHARS), nullable=False),
        sa.Column("user_id", Identifier(USER_ID_CHARS), nullable=False),
        sa.Column("metadata", json_text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["chat_id"], ["chats.id"], name="fk_conversations_chat_id_chats", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("chat_id"),
        **MYSQL_TABLE_OPTIONS,
    )


def downgrade() -> None:
    op.drop_table("conversations")
    # The index goes with its table: MariaDB keeps it for the foreign key until then.
    op.drop_table("responses")
