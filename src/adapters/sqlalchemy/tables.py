"""The schema: every table the service stores, as SQLAlchemy Core tables on one `metadata` that
the migrations build (tests/integration/test_migrations.py compares the two). The tables stay in
one module so that importing it is the whole schema. Their column types and the identifiers'
widths are `column_types.py`'s; the MySQL family's table options, `dialects.py`'s.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    UniqueConstraint,
    false,
)

from chatservice.adapters.sqlalchemy.column_types import (
    ID_CHARS,
    IDEMPOTENCY_KEY_COLUMN_CHARS,
    USER_ID_CHARS,
    Identifier,
    Picodollars,
    UtcDateTime,
    json_text,
    long_text,
    short_text,
)
from chatservice.adapters.sqlalchemy.dialects import MYSQL_DIALECTS, MYSQL_TABLE_OPTIONS
from chatservice.domain.chat import (
    FINISH_REASON_CHARS,
    IDEMPOTENCY_KEY_CHARS,
    MODEL_NAME_CHARS,
    TITLE_LENGTH,
)
from chatservice.domain.responses import RESPONSE_ID_CHARS

#: The index of a chat's window: its messages neither erased nor superseded, in order.
WINDOW_INDEX = "ix_messages_chat_id_erased_superseded_position"

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

#: Twilio's MessageSid (34 characters today), held to the idempotency-key rule.
MESSAGE_SID_CHARS = IDEMPOTENCY_KEY_CHARS

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
