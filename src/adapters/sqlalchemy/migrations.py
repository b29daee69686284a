"""Running the alembic migrations shipped in the package (`chatservice.migrations`).

Both methods run their own event loop (`asyncio.run`), so call them outside one: from the CLI, or
before the server starts.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from importlib.resources import files

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from chatservice.adapters.sqlalchemy.engine import create_engine


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
        command.upgrade(_config(self.url), "head")

    def schema_is_current(self) -> bool:
        """Whether every migration has been applied."""
        heads = set(ScriptDirectory.from_config(_config(self.url)).get_heads())
        return asyncio.run(_applied(self.url)) == heads


async def _applied(url: str) -> set[str]:
    def read(connection: Connection) -> set[str]:
        return set(MigrationContext.configure(connection).get_current_heads())

    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(read)
    finally:
        await engine.dispose()
