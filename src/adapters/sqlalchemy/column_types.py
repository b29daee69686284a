"""The column types the tables share with the migrations, and the widths of the identifiers
they hold.

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

from sqlalchemy import BigInteger, DateTime, Dialect, String, Text
from sqlalchemy.dialects import mysql
from sqlalchemy.types import TypeDecorator, TypeEngine

from chatservice.adapters.sqlalchemy.dialects import MYSQL_DIALECTS
from chatservice.domain.prices import COST_PLACES

#: The longest identifiers stored, in characters (ids are UUIDs; idempotency keys come from
#: callers).
ID_CHARS = 36
USER_ID_CHARS = 128
#: The idempotency-key columns: room for any key the domain admits (`IDEMPOTENCY_KEY_CHARS`).
#: They were created wider than that rule, and stay so: narrowing them would rebuild the
#: messages table to gain nothing.
IDEMPOTENCY_KEY_COLUMN_CHARS = 255


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
