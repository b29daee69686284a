"""The MySQL family as the SQLAlchemy adapter meets it: the dialect names its URLs carry, and the
options each of its tables is created with. Any other database is SQLite.
"""

from __future__ import annotations

from typing import Any

#: Both names a MySQL-family URL may carry: a `mariadb+asyncmy` URL ignores `mysql` variants.
MYSQL_DIALECTS = ("mysql", "mariadb")

#: Table options for MySQL/MariaDB, under both dialect prefixes (`Table`'s untyped `**kw`): every
#: text column `utf8mb4`, whatever the server's defaults.
MYSQL_TABLE_OPTIONS: dict[str, Any] = {
    f"{dialect}_{option}": value
    for dialect in MYSQL_DIALECTS
    for option, value in {
        "engine": "InnoDB",
        "charset": "utf8mb4",
        "collate": "utf8mb4_bin",
    }.items()
}
