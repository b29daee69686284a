"""Chat search on a full-text index: FTS5 on SQLite, FULLTEXT on MySQL/MariaDB
(docs/adr/0014-search-by-user-scoped-terms.md).

Each user or assistant message gets a row in `search_documents` whose `terms` are the message's
search words, each prefixed with a short hash of its chat's user (`u1a2b3c4d5ehello`). A query
for a user's words looks up only that user's terms: the index answers from the postings of those
terms alone, so a search costs what the user's own matches cost, however many messages other
users hold with the same words. The hash only narrows the lookup; the chats found are still
checked to be the user's, so a collision between two users' hashes shows nobody else's chats.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from sqlalchemy import Connection, Integer, insert, literal_column, select, text
from sqlalchemy.dialects import mysql
from sqlalchemy.sql import Select

from chatservice.adapters.sqlalchemy.dialects import MYSQL_DIALECTS
from chatservice.adapters.sqlalchemy.tables import search_documents
from chatservice.domain.chat import Message, Role
from chatservice.domain.search import search_words

#: The FTS5 index over `search_documents.terms` on SQLite (an external-content table: the
#: documents are stored once), kept in step by triggers.
SQLITE_INDEX = "search_index"
#: The FULLTEXT index over `search_documents.terms` on MySQL/MariaDB.
FULLTEXT_INDEX = "ix_search_documents_terms"
SQLITE_DDL = (
    f"CREATE VIRTUAL TABLE {SQLITE_INDEX} USING fts5(terms, content='search_documents', "
    "content_rowid='doc_id', tokenize='unicode61 remove_diacritics 0')",
    f"CREATE TRIGGER search_documents_added AFTER INSERT ON search_documents BEGIN "
    f"INSERT INTO {SQLITE_INDEX}(rowid, terms) VALUES (new.doc_id, new.terms); END",
    f"CREATE TRIGGER search_documents_deleted AFTER DELETE ON search_documents BEGIN "
    f"INSERT INTO {SQLITE_INDEX}({SQLITE_INDEX}, rowid, terms) "
    "VALUES ('delete', old.doc_id, old.terms); END",
)
SQLITE_DROP = (
    "DROP TRIGGER search_documents_deleted",
    "DROP TRIGGER search_documents_added",
    f"DROP TABLE {SQLITE_INDEX}",
)
#: The roles whose messages are searched (every chat has a system message, often the same).
SEARCHED_ROLES = frozenset({Role.USER, Role.ASSISTANT})


def user_scope(user_id: str) -> str:
    """The prefix of a user's terms: a letter and ten hex digits of a hash of the id."""
    return "u" + hashlib.sha256(user_id.encode()).hexdigest()[:10]


def terms(user_id: str, words: Iterable[str]) -> list[str]:
    scope = user_scope(user_id)
    return [scope + word for word in words]


def document_row(user_id: str, chat_id: str, content: str) -> dict[str, object] | None:
    """The search document of a message of a chat of `user_id`; `None` when it has no word."""
    words = search_words(content)
    return {"chat_id": chat_id, "terms": " ".join(terms(user_id, words))} if words else None


def document_rows(
    user_id: str, chat_id: str, messages: Sequence[Message]
) -> list[dict[str, object]]:
    """The search documents of a chat's `messages` (none for a system message)."""
    rows = (document_row(user_id, chat_id, m.content) for m in messages if m.role in SEARCHED_ROLES)
    return [row for row in rows if row is not None]


def index_messages(
    connection: Connection, user_id: str, chat_id: str, messages: Sequence[Message]
) -> None:
    rows = document_rows(user_id, chat_id, messages)
    if rows:
        connection.execute(insert(search_documents), rows)


def matching_chat_ids(dialect: str, user_id: str, words: Sequence[str]) -> Select[tuple[str]]:
    """The ids of the chats with a message holding every one of `words`, among `user_id`'s
    terms (to be checked against the chats' owner)."""
    wanted = terms(user_id, words)
    if dialect in MYSQL_DIALECTS:
        return select(search_documents.c.chat_id).where(
            mysql.match(
                search_documents.c.terms, against=" ".join(f"+{t}" for t in wanted)
            ).in_boolean_mode()
        )
    matching: Select[int] = (
        select(literal_column("rowid", Integer()))
        .select_from(text(SQLITE_INDEX))
        .where(
            text(f"{SQLITE_INDEX} MATCH :fts_query").bindparams(
                fts_query=" ".join(f'"{t}"' for t in wanted)
            )
        )
    )
    return select(search_documents.c.chat_id).where(search_documents.c.doc_id.in_(matching))
