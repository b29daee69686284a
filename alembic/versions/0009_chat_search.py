"""Chat search: a document per user or assistant message, its words scoped by its user, under a
full-text index (FTS5 on SQLite, FULLTEXT on MySQL/MariaDB); the messages stored before are
indexed here, in batches.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from chatservice.adapters.sqlalchemy import search
from chatservice.adapters.sqlalchemy.column_types import ID_CHARS, Identifier, long_text
from chatservice.adapters.sqlalchemy.dialects import MYSQL_DIALECTS, MYSQL_TABLE_OPTIONS
from chatservice.adapters.sqlalchemy.tables import chats, messages, search_documents
from chatservice.domain.chat import Role

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Messages indexed per batch of the backfill.
_BATCH = 2000


def upgrade() -> None:
    op.create_table(
        "search_documents",
        sa.Column(
            "doc_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column(
            "chat_id",
            Identifier(ID_CHARS),
            sa.ForeignKey(
                "chats.id",
                ondelete="CASCADE",
                name="fk_search_documents_chat_id_chats",
            ),
            nullable=False,
        ),
        sa.Column("terms", long_text(), nullable=False),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_index("ix_search_documents_chat_id", "search_documents", ["chat_id"])
    bind = op.get_bind()
    if bind.dialect.name in MYSQL_DIALECTS:
        op.create_index(
            "ix_search_documents_terms",
            "search_documents",
            ["terms"],
            mysql_prefix="FULLTEXT",
            mariadb_prefix="FULLTEXT",
        )
    else:
        for statement in search.SQLITE_DDL:
            op.execute(statement)
    _index_stored_messages(bind)


def _index_stored_messages(bind: sa.Connection) -> None:
    """Index the messages stored before search existed, by (chat_id, position) pages."""
    query = (
        sa.select(messages.c.chat_id, messages.c.position, messages.c.content, chats.c.user_id)
        .join(chats, chats.c.id == messages.c.chat_id)
        .where(messages.c.role.in_([Role.USER.value, Role.ASSISTANT.value]))
        .order_by(messages.c.chat_id, messages.c.position)
        .limit(_BATCH)
    )
    after: tuple[str, int] | None = None
    while True:
        page = (
            query
            if after is None
            else query.where(sa.tuple_(messages.c.chat_id, messages.c.position) > sa.tuple_(*after))
        )
        rows = bind.execute(page).all()
        found = (search.document_row(row.user_id, row.chat_id, row.content) for row in rows)
        documents = [document for document in found if document is not None]
        if documents:
            bind.execute(sa.insert(search_documents), documents)
        if len(rows) < _BATCH:
            return
        after = (rows[-1].chat_id, rows[-1].position)


def downgrade() -> None:
    if op.get_bind().dialect.name not in MYSQL_DIALECTS:
        for statement in search.SQLITE_DROP:
            op.execute(statement)
    op.drop_table("search_documents")
