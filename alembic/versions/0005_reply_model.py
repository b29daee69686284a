"""The model that wrote each reply: the chat's own, or one of its fallbacks.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from chatservice.adapters.sqlalchemy.column_types import short_text
from chatservice.domain.chat import MODEL_NAME_CHARS

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A nullable column added: SQLite takes it without copying the table. The replies stored
    # before have no model recorded (NULL), which the read APIs show as such.
    op.add_column("messages", sa.Column("model", short_text(MODEL_NAME_CHARS), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("messages") as messages:
        messages.drop_column("model")
