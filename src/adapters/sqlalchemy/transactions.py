"""Short transactions on the engine, with connection failures as `StorageUnavailable`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from chatservice.adapters.sqlalchemy.engine import writer
from chatservice.domain.errors import StorageUnavailable


class Transactions:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._writer = writer(engine)

    @asynccontextmanager
    async def begin(self, write: bool) -> AsyncIterator[AsyncConnection]:
        """One transaction, committed when the block ends and rolled back when it raises.
        Writes start with `BEGIN IMMEDIATE` on SQLite."""
        try:
            async with (self._writer if write else self._engine).begin() as connection:
                yield connection
        except (exc.OperationalError, exc.InterfaceError, exc.TimeoutError) as error:
            raise _unavailable(error) from error
        except exc.DBAPIError as error:
            if error.connection_invalidated:
                raise _unavailable(error) from error
            raise


def _unavailable(error: exc.SQLAlchemyError) -> StorageUnavailable:
    # The driver's message may quote the statement; only its class is safe to repeat.
    reason = type(getattr(error, "orig", None) or error).__name__
    return StorageUnavailable(f"the database is unavailable ({reason})")
