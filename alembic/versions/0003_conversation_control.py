"""Conversation control: superseded messages (regenerate, edit) and forks.

Revision ID: 0003
Revises: 0002
Create Date: 2025-03-01 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from chatservice.adapters.sqlalchemy.column_types import (
    ID_CHARS,
    IDEMPOTENCY_KEY_COLUMN_CHARS,
    Identifier,
)

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD_WINDOW_INDEX = "ix_messages_chat_id_erased_position"
_WINDOW_INDEX = "ix_messages_chat_id_erased_superseded_position"
_FORK_INDEX = "ix_chats_forked_from_chat_id_fork_idempotency_key"


def upgrade() -> None:
    # Added columns and indexes only: SQLite takes them without copying a table. Every stored
    # message is current (not superseded), which the server default says.
    op.add_column(
        "messages", sa.Column("superseded", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.add_column("messages", sa.Column("replaces", Identifier(ID_CHARS), nullable=True))
    # The new window index first: the old one may be what MySQL uses for the foreign key.
    op.create_index(_WINDOW_INDEX, "messages", ["chat_id", "erased", "superseded", "position"])
    op.drop_index(_OLD_WINDOW_INDEX, "messages")
    op.add_column("chats", sa.Column("forked_from_chat_id", Identifier(ID_CHARS), nullable=True))
    op.add_column("chats", sa.Column("forked_from_message_id", Identifier(ID_CHARS), nullable=True))
    op.add_column(
        "chats",
        sa.Column("fork_idempotency_key", Identifier(IDEMPOTENCY_KEY_COLUMN_CHARS), nullable=True),
    )
    op.create_index(
        _FORK_INDEX, "chats", ["forked_from_chat_id", "fork_idempotency_key"], unique=True
    )


def downgrade() -> None:
    op.drop_index(_FORK_INDEX, "chats")
    with op.batch_alter_table("chats") as chats:
        chats.drop_column("fork_idempotency_key")
        chats.drop_column("forked_from_message_id")
        chats.drop_column("forked_from_chat_id")
    op.create_index(_OLD_WINDOW_INDEX, "messages", ["chat_id", "erased", "position"])
    op.drop_index(_WINDOW_INDEX, "messages")
    with op.batch_alter_table("messages") as messages:
        messages.drop_column("replaces")
        messages.drop_column("superseded")
