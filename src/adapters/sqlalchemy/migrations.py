"""Running the alembic migrations shipped in the package (`chatservice.migrations`).

Both methods run their own event loop (`asyncio.run`), so call them outside one: from the CLI, or
before the server starts. A database they cannot open (no server answers, no such database, the
server refuses the user) is `StorageUnavailable`, whose message names the problem in one line.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.resources import files

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, exc
from sqlalchemy.engine import URL, make_url

from chatservice.adapters.sqlalchemy.dialects import MYSQL_DIALECTS
from chatservice.adapters.sqlalchemy.engine import create_engine
from chatservice.domain.errors import StorageUnavailable


def _config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(files("chatservice.migrations")))
    # An attribute, not the `sqlalchemy.url` option: configparser would read `%` in a password.
    config.attributes["url"] = url
    return config


@dataclass(frozen=True)
class AlembicMigrations:
    """The schema migrations of the database at `url`."""

    url: str

    def upgrade_to_head(self) -> None:
        """Bring the schema up to the newest migration."""
        with _opening(self.url):
            command.upgrade(_config(self.url), "head")

    def schema_is_current(self) -> bool:
        """Whether every migration has been applied."""
        heads = set(ScriptDirectory.from_config(_config(self.url)).get_heads())
        with _opening(self.url):
            return asyncio.run(_applied(self.url)) == heads


@contextmanager
def _opening(url: str) -> Iterator[None]:
    try:
        yield
    except (exc.OperationalError, exc.InterfaceError) as error:
        raise StorageUnavailable(_why_unusable(make_url(url), error)) from error


#: MySQL/MariaDB errors that end the opening of a connection, said more plainly than the driver
#: does; others (a refused user, …) are clear in the server's own words.
_OPENING_PROBLEMS = {
    1049: "database {database!r} does not exist on the server at {server}; create it, then run "
    "`chatservice migrate`",
    # Refused, timed out, or a host name that does not resolve.
    2003: "no database server answers at {server}",
}


def _why_unusable(url: URL, error: exc.DBAPIError) -> str:
    args = getattr(error.orig, "args", ())
    code = args[0] if args else None
    if url.get_backend_name() in MYSQL_DIALECTS and code in _OPENING_PROBLEMS:
        server = f"{url.host}:{url.port or 3306}"
        return _OPENING_PROBLEMS[code].format(server=server, database=url.database)
    # The driver's own words: at start-up they concern opening the database (or one of our own
    # migration statements), never a caller's data.
    said = " ".join(str(args[-1] if args else error.orig).split())
    return f"cannot use the database {url.render_as_string(hide_password=True)}: {said}"


async def _applied(url: str) -> set[str]:
    def read(connection: Connection) -> set[str]:
        return set(MigrationContext.configure(connection).get_current_heads())

    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(read)
    finally:
        await engine.dispose()
