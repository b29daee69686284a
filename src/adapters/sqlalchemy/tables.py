"""The schema: SQLAlchemy Core tables for chats and their messages (and WhatsApp's senders and
inbound messages), and the column types they share with the migrations.

On MySQL/MariaDB every text column is `utf8mb4`, whatever the server's defaults. Identifiers (chat,
message ids, idempotency keys, user ids) are stored as `VARBINARY` and so compare byte for byte: the
`utf8mb4_bin` collation is PAD SPACE on MariaDB and MySQL 5.7, so it would take `alice ` for
`alice`, and the NO PAD binary collations differ between the two servers (a `mysql://` URL may
point at either). SQLite compares text byte for byte already.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.types import TypeDecorator, TypeEngine

from chatservice.domain.chat import (
    FINISH_REASON_CHARS,
    IDEMPOTENCY_KEY_CHARS,
    MODEL_NAME_CHARS,
    TITLE_LENGTH,
)
from chatservice.domain.prices import COST_PLACES
from chatservice.domain.responses import RESPONSE_ID_CHARS

#: Both names a MySQL-family URL may carry: a `mariadb+asyncmy` URL ignores `mysql` variants.
MYSQL_DIALECTS = ("mysql", "mariadb")

#: The longest identifiers stored, in characters (ids are UUIDs; idempotency keys come from
#: callers).
ID_CHARS = 36
USER_ID_CHARS = 128
#: The idempotency-key columns: room for any key the domain admits (`IDEMPOTENCY_KEY_CHARS`).
#: They were created wider than that rule, and stay so: narrowing them would rebuild the
#: messages table to gain nothing.
IDEMPOTENCY_KEY_COLUMN_CHARS = 255
#: Twilio's MessageSid (34 characters today), held to the idempotency-key rule.
MESSAGE_SID_CHARS = IDEMPOTENCY_KEY_CHARS

#: The index of a chat's window: its messages neither erased nor superseded, in order.
WINDOW_INDEX = "ix_messages_chat_id_erased_superseded_position"

#: Table options for MySQL/MariaDB, under both dialect prefixes (`Table`'s untyped `**kw`).
MYSQL_TABLE_OPTIONS: dict[str, Any] = {
    f"{dialect}_{option}": value
    for dialect in MYSQL_DIALECTS
    for option, value in {
        "engine": "InnoDB",
        "charset": "utf8mb4",
        "collate": "utf8mb4_bin",
    }.items()
}


class Identifier(TypeDecorator[str]):
    """Text compared exactly, case and trailing spaces included (`VARBINARY` on MySQL/MariaDB)."""

    impl = String
    cache_ok = True

    def __init__(self, length: int) -> None:
        super().__init__(length)
        self.length = length

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:  # SQLAlchemy's signature
        if dialect.name in MYSQL_DIALECTS:
            # 4 bytes per character: room for any UTF-8 text of `length` characters.
            return dialect.type_descriptor(mysql.VARBINARY(self.length * 4))
        return dialect.type_descriptor(String(self.length))

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | bytes | None:
        if value is not None and dialect.name in MYSQL_DIALECTS:
            return value.encode()
        return value

    def process_result_value(self, value: str | bytes | None, dialect: Dialect) -> str | None:
        return value.decode() if isinstance(value, bytes) else value


class UtcDateTime(TypeDecorator[datetime]):
    """A UTC instant with microseconds: stored naive (`DATETIME(6)` on MySQL/MariaDB), returned
    timezone-aware. Naive datetimes are refused rather than guessed at."""

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[datetime]:
        if dialect.name in MYSQL_DIALECTS:
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("timestamps must be timezone-aware")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Picodollars(TypeDecorator[Decimal]):
    """Money: a `Decimal` of USD kept as a whole number of picodollars (10^-12 USD) in a BIGINT,
    exact on every database (SQLite has no exact decimal type) and summed exactly by SQL. Every
    cost is whole in that unit (`domain/prices.py`); anything finer is refused, never rounded."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> int | None:
        if value is None:
            return None
        picodollars = value.scaleb(COST_PLACES)
        if picodollars != picodollars.to_integral_value():
            raise ValueError(f"{value} USD is finer than a picodollar")
        return int(picodollars)

    def process_result_value(self, value: int | None, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(int(value)).scaleb(-COST_PLACES)


def short_text(length: int) -> TypeEngine[str]:
    """A short piece of utf8mb4 text (names, statuses, titles)."""
    return String(length).with_variant(
        mysql.VARCHAR(length, charset="utf8mb4", collation="utf8mb4_bin"), *MYSQL_DIALECTS
    )


def long_text() -> TypeEngine[str]:
    """Message content: `MEDIUMTEXT` (16 MiB) on MySQL/MariaDB, where `TEXT` stops at 64 KiB."""
    return Text().with_variant(
        mysql.MEDIUMTEXT(charset="utf8mb4", collation="utf8mb4_bin"), *MYSQL_DIALECTS
    )


def json_text() -> TypeEngine[str]:
    """A small JSON document kept as text (a chat's sampling parameters)."""
    return Text().with_variant(
        mysql.TEXT(charset="utf8mb4", collation="utf8mb4_bin"), *MYSQL_DIALECTS
    )


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    }
)

chats = Table(
    "chats",
    metadata,
    Column("id", Identifier(ID_CHARS), primary_key=True),
    Column("user_id", Identifier(USER_ID_CHARS), nullable=False),
    Column("status", short_text(16), nullable=False),
    Column("model", short_text(MODEL_NAME_CHARS), nullable=False),
    Column("params", json_text(), nullable=False),
    Column("title", short_text(TITLE_LENGTH), nullable=False),
    Column("prompt_tokens", BigInteger(), nullable=False),
    Column("completion_tokens", BigInteger(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("version", BigInteger(), nullable=False),
    # What the chat's turns cost (its summaries' cost is theirs); the defaults are the
    # migration's, for the chats made before there were prices.
    Column("cached_prompt_tokens", BigInteger(), nullable=False, server_default="0"),
    Column("cost_picodollars", Picodollars(), key="cost", nullable=False, server_default="0"),
    # The idempotency key of the turn holding the chat. The columns keep their first names
    # (`request_id`): a rename would cost a migration and say nothing new to the database.
    Column(
        "claim_request_id",
        Identifier(IDEMPOTENCY_KEY_COLUMN_CHARS),
        key="claim_idempotency_key",
        nullable=True,
    ),
    Column("claim_expires_at", UtcDateTime(), nullable=True),
    # A fork's origin (no foreign key: the fork outlives the chat it came from), and the
    # idempotency key of the request that made it.
    Column("forked_from_chat_id", Identifier(ID_CHARS), nullable=True),
    Column("forked_from_message_id", Identifier(ID_CHARS), nullable=True),
    Column("fork_idempotency_key", Identifier(IDEMPOTENCY_KEY_COLUMN_CHARS), nullable=True),
    # What the chat keeps of its erased exchanges (`Memory`); the default is the migration's,
    # for the chats made before there was a choice.
    Column("memory", short_text(16), nullable=False, server_default="none"),
    # A user's chat list, newest first, paged by (updated_at, id).
    Index(None, "user_id", "updated_at", "id"),
    # The retention sweep: the chats not updated for longest.
    Index(None, "updated_at"),
    # One fork per idempotency key of a chat; NULLs (chats that are no forks) do not collide.
    Index(None, "forked_from_chat_id", "fork_idempotency_key", unique=True),
    **MYSQL_TABLE_OPTIONS,
)

messages = Table(
    "messages",
    metadata,
    Column(
        "chat_id",
        Identifier(ID_CHARS),
        ForeignKey("chats.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("position", Integer(), nullable=False),
    Column("id", Identifier(ID_CHARS), nullable=False),
    Column("role", short_text(32), nullable=False),
    Column("content", long_text(), nullable=False),
    Column("tokens", Integer(), nullable=False),
    Column("erased", Boolean(), nullable=False),
    Column(
        "request_id", Identifier(IDEMPOTENCY_KEY_COLUMN_CHARS), key="idempotency_key", nullable=True
    ),
    Column("finish_reason", short_text(FINISH_REASON_CHARS), nullable=True),
    Column("prompt_tokens", BigInteger(), nullable=True),
    Column("completion_tokens", BigInteger(), nullable=True),
    Column("usage_estimated", Boolean(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    # The default is the migration's, for the messages stored before there were versions.
    Column("superseded", Boolean(), nullable=False, server_default=false()),
    Column("replaces", Identifier(ID_CHARS), nullable=True),
    # A reply's: our count of the prompt it answered (calibrated counting).
    Column("estimated_prompt_tokens", BigInteger(), nullable=True),
    # A reply's: the model that wrote it (the chat's own, or a fallback).
    Column("model", short_text(MODEL_NAME_CHARS), nullable=True),
    # A reply's: the prompt tokens the provider read from its cache, and what the call cost.
    Column("cached_prompt_tokens", BigInteger(), nullable=True),
    Column("cost_picodollars", Picodollars(), key="cost", nullable=True),
    # A chat's messages sit together (InnoDB clusters rows by primary key).
    PrimaryKeyConstraint("chat_id", "position"),
    UniqueConstraint("id"),
    # One turn per idempotency key in a chat; NULLs (system messages, replies) do not collide.
    UniqueConstraint("chat_id", "idempotency_key"),
    # The window read, and a turn's erasures and supersessions, touch only the window's rows.
    Index(WINDOW_INDEX, "chat_id", "erased", "superseded", "position"),
    **MYSQL_TABLE_OPTIONS,
)

# A chat's running summary of its erased exchanges (`ChatSummary`), beside the chat's row rather
# in it: storing a summary then never writes the row every turn claims and commits (on Galera,
# never a certification conflict with a turn). What writing the summaries cost, added to the
# chat's usage when it is read.
chat_summaries = Table(
    "chat_summaries",
    metadata,
    Column(
        "chat_id",
        Identifier(ID_CHARS),
        ForeignKey("chats.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("content", long_text(), nullable=False),
    Column("tokens", Integer(), nullable=False),
    Column("covers_through_position", Integer(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("version", BigInteger(), nullable=False),
    Column("prompt_tokens", BigInteger(), nullable=False),
    Column("completion_tokens", BigInteger(), nullable=False),
    Column("cached_prompt_tokens", BigInteger(), nullable=False, server_default="0"),
    Column("cost_picodollars", Picodollars(), key="cost", nullable=False, server_default="0"),
    **MYSQL_TABLE_OPTIONS,
)

# Chat search (adapters/sqlalchemy/search.py): a document per user or assistant message, its
# search words prefixed by its user's hash. On SQLite an FTS5 table indexes `terms` (made by the
# migration, kept in step by triggers); on MySQL/MariaDB a FULLTEXT index.
search_documents = Table(
    "search_documents",
    metadata,
    # An integer primary key: on SQLite it is the rowid, which the FTS5 index refers to.
    Column(
        "doc_id",
        BigInteger().with_variant(Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    Column(
        "chat_id",
        Identifier(ID_CHARS),
        ForeignKey("chats.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("terms", long_text(), nullable=False),
    Index(None, "chat_id"),
    # Only on MySQL/MariaDB: SQLite's index is the FTS5 table.
    Index(
        "ix_search_documents_terms",
        "terms",
        mysql_prefix="FULLTEXT",
        mariadb_prefix="FULLTEXT",
        # SQLAlchemy takes a tuple of dialect names, which its annotation does not say.
    ).ddl_if(dialect=MYSQL_DIALECTS),  # type: ignore[arg-type]
    **MYSQL_TABLE_OPTIONS,
)

# WhatsApp (docs/whatsapp.md). A sender's current chat: the primary key is the guard that gives each
# sender at most one, whichever replica answers; deleting the chat deletes the row.
whatsapp_senders = Table(
    "whatsapp_senders",
    metadata,
    Column("sender", Identifier(USER_ID_CHARS), primary_key=True),
    Column(
        "chat_id",
        Identifier(ID_CHARS),
        ForeignKey("chats.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("since", UtcDateTime(), nullable=False),
    UniqueConstraint("chat_id"),
    **MYSQL_TABLE_OPTIONS,
)

# Every inbound message taken, by Twilio's MessageSid: a redelivery collides with its row.
whatsapp_messages = Table(
    "whatsapp_messages",
    metadata,
    Column("message_sid", Identifier(MESSAGE_SID_CHARS), primary_key=True),
    Column("sender", Identifier(USER_ID_CHARS), nullable=False),
    Column("received_at", UtcDateTime(), nullable=False),
    # Erasing a sender, and pruning the records too old to guard against a redelivery.
    Index(None, "sender"),
    Index(None, "received_at"),
    **MYSQL_TABLE_OPTIONS,
)

#: The longest lease name.
LEASE_NAME_CHARS = 64

# Leases: who does a job that must run on one replica at a time (the retention sweep), until
# when. The row is the lock, taken by a conditional UPDATE
# (docs/adr/0012-one-sweeper-at-a-time-by-a-lease-row.md).
leases = Table(
    "leases",
    metadata,
    Column("name", Identifier(LEASE_NAME_CHARS), primary_key=True),
    Column("holder", Identifier(IDEMPOTENCY_KEY_COLUMN_CHARS), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    **MYSQL_TABLE_OPTIONS,
)

# The OpenAI Responses API (docs/api.md). A response is a turn of a chat (its request id); the
# row keeps what the caller asked of it that the chat does not. Deleting the chat deletes it.
responses = Table(
    "responses",
    metadata,
    Column("id", Identifier(RESPONSE_ID_CHARS), primary_key=True),
    Column("user_id", Identifier(USER_ID_CHARS), nullable=False),
    Column(
        "chat_id",
        Identifier(ID_CHARS),
        ForeignKey("chats.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("request_id", Identifier(IDEMPOTENCY_KEY_COLUMN_CHARS), nullable=False),
    Column("model", short_text(MODEL_NAME_CHARS), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    # Instructions, sampling options and truncation, as JSON.
    Column("options", long_text(), nullable=False),
    Column("metadata", json_text(), nullable=False),
    # No foreign key: a response outlives the deletion of the one it continued.
    Column("previous_response_id", Identifier(RESPONSE_ID_CHARS), nullable=True),
    Column("in_conversation", Boolean(), nullable=False),
    Column("background", Boolean(), nullable=False),
    Index(None, "chat_id"),
    **MYSQL_TABLE_OPTIONS,
)

# A conversation's metadata; a chat without a row is a conversation without metadata.
conversations = Table(
    "conversations",
    metadata,
    Column(
        "chat_id",
        Identifier(ID_CHARS),
        ForeignKey("chats.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("user_id", Identifier(USER_ID_CHARS), nullable=False),
    Column("metadata", json_text(), nullable=False),
    **MYSQL_TABLE_OPTIONS,
)

#: The longest name of a `[[tokens]]` entry (`entrypoints/settings/token_tables.py`).
TOKEN_NAME_CHARS = 64

# The usage ledger (docs/operations.md, "Reading spend"): one row per model call the service paid
# for, a turn's reply or a summary, written in the transaction that stores the call's outcome.
# It outlives the chat (no foreign key: deleting a chat never refunds what it cost) and goes with
# the user's erasure. Usage reports group it; budgets sum it.
usage_records = Table(
    "usage_records",
    metadata,
    # An integer primary key: on SQLite it is the rowid.
    Column(
        "id",
        BigInteger().with_variant(Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    Column("user_id", Identifier(USER_ID_CHARS), nullable=False),
    Column("chat_id", Identifier(ID_CHARS), nullable=False),
    # `reply` or `summary`.
    Column("kind", short_text(16), nullable=False),
    Column("model", short_text(MODEL_NAME_CHARS), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    # The UTC calendar day of `at`, which reports group by on every database alike.
    Column("day", Date(), nullable=False),
    Column("prompt_tokens", BigInteger(), nullable=False),
    Column("completion_tokens", BigInteger(), nullable=False),
    Column("cached_prompt_tokens", BigInteger(), nullable=False),
    Column("cost_picodollars", Picodollars(), key="cost", nullable=False),
    # A user's report and budgets read a range of days of theirs.
    Index(None, "user_id", "day"),
    **MYSQL_TABLE_OPTIONS,
)

# What each call counts against the scoped tokens whose glob covered its user when it was
# stored, every one of them whether it has a budget or not (so a budget set mid-period counts
# the period whole): a token's budget sums its rows. Goes with its usage record.
usage_charges = Table(
    "usage_charges",
    metadata,
    Column(
        "usage_id",
        BigInteger().with_variant(Integer(), "sqlite"),
        ForeignKey("usage_records.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("token_name", Identifier(TOKEN_NAME_CHARS), nullable=False),
    Column("day", Date(), nullable=False),
    # Prompt + completion tokens, and the cost, as on the usage record.
    Column("tokens", BigInteger(), nullable=False),
    Column("cost_picodollars", Picodollars(), key="cost", nullable=False),
    PrimaryKeyConstraint("usage_id", "token_name"),
    Index(None, "token_name", "day"),
    **MYSQL_TABLE_OPTIONS,
)

#: An account of the budgets as their rows name it: a letter, then the SHA-256 of the account
#: (`adapters/sqlalchemy/budgets.py`), so no row of them holds a user id to erase.
BUDGET_ACCOUNT_CHARS = 65

# Budgets (docs/operations.md, "Budgets"): what each running turn reserved against each account
# it counts against, until it is stored or given up (or its claim expires, for a turn whose
# replica died). No foreign key: a reserve is the turn's, not its chat's, and lives minutes.
budget_reserves = Table(
    "budget_reserves",
    metadata,
    Column("chat_id", Identifier(ID_CHARS), nullable=False),
    Column("idempotency_key", Identifier(IDEMPOTENCY_KEY_COLUMN_CHARS), nullable=False),
    Column("account", Identifier(BUDGET_ACCOUNT_CHARS), nullable=False),
    # Prompt + completion tokens, and the cost, the turn may come to at most.
    Column("tokens", BigInteger(), nullable=False),
    Column("cost_picodollars", Picodollars(), key="cost", nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    # A turn's commit or release deletes its reserves by the turn's identity.
    PrimaryKeyConstraint("chat_id", "idempotency_key", "account"),
    # A claim sums an account's unexpired reserves, and prunes its expired ones.
    Index(None, "account", "expires_at"),
    **MYSQL_TABLE_OPTIONS,
)

# One row per account with a budget, which every claim on the account updates first: the row
# lock makes claims on one account take turns (on Galera, two nodes' updates of the row conflict
# at certification and one claim runs again), so each reads what the one before it reserved
# (docs/adr/0015-budget-reserves-under-a-lock-row.md). `claims` only counts; that it changes is
# what matters, as an update that changes nothing writes nothing to conflict on.
budget_locks = Table(
    "budget_locks",
    metadata,
    Column("account", Identifier(BUDGET_ACCOUNT_CHARS), primary_key=True),
    Column("claims", BigInteger(), nullable=False),
    **MYSQL_TABLE_OPTIONS,
)
