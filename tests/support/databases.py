"""The test MariaDB/MySQL server."""

from __future__ import annotations

import os

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

MYSQL_URL = os.environ.get("CHATSERVICE_TEST_MYSQL_URL", "mysql+asyncmy://root@127.0.0.1:3306")


async def execute_on_server(statement: str, url: str = MYSQL_URL) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()
