"""Chats and their messages.

Revision ID: 0001
Revises:
Create Date: 2025-01-01 00:00:00
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

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "chats",
        sa.Column("id", Identifier(ID_CHARS), nullable=False),
        sa.Column("user_id", Identifier(USER_ID_CHARS), nullable=False),
        sa.Column("status", short_text(16), nullable=False),
        sa.Column("model", short_text(255), nullable=False),
        sa.Column("params", json_text(), nullable=False),
        sa.Column("title", short_text(80), nullable=False),
        sa.Column("prompt_tokens", sa.BigInteger(), nullable=False),
        sa.Column("completion_tokens", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("claim_request_id", Identifier(IDEMPOTENCY_KEY_COLUMN_CHARS), nullable=True),
        sa.Column("claim_expires_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_index("ix_chats_user_id_updated_at_id", "chats", ["user_id", "updated_at", "id"])
    op.create_table(
        "messages",
        sa.Column("chat_id", Identifier(ID_CHARS), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("id", Identifier(ID_CHARS), nullable=False),
        sa.Column("role", short_text(32), nullable=False),
        sa.Column("content", long_text(), nullable=False),
        sa.Column("tokens", sa.Integer(), nullable=False),
        sa.Column("erased", sa.Boolean(), nullable=False),
        sa.Column("request_id", Identifier(IDEMPOTENCY_KEY_COLUMN_CHARS), nullable=True),
        sa.Column("finish_reason", short_text(64), nullable=True),
        sa.Column("prompt_tokens", sa.BigInteger(), nullable=True),
        sa.Column("completion_tokens", sa.BigInteger(), nullable=True),
        sa.Column("usage_estimated", sa.Boolean(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["chat_id"], ["chats.id"], name="fk_messages_chat_id_chats", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("chat_id", "position"),
        sa.UniqueConstraint("id", name="uq_messages_id"),
        sa.UniqueConstraint("chat_id", "request_id", name="uq_messages_chat_id_request_id"),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_index(
        "ix_messages_chat_id_erased_position", "messages", ["chat_id", "erased", "position"]
    )


def downgrade() -> None:
    op.drop_table("messages")
    op.drop_table("chats")
