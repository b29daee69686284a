"""The floor under the turn's SQL: the same statements, written by hand, on the bare driver.

`direct_sql_load` runs a turn's claim (UPDATE, SELECT the chat, SELECT the window, COMMIT) and
commit (UPDATE the chat, UPDATE the erased flags, INSERT two messages, COMMIT) on one asyncmy
connection per client, with no pool, no SQLAlchemy and no domain objects. Set against "repository
only", it shows what our data layer adds to the database's own work. MariaDB only: it is the
database the latency target is set on.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import asyncmy
from clients import Latencies, run_load
from seed import MESSAGE, add_chats
from sqlalchemy.engine import make_url

from chatservice.adapters.sqlalchemy.engine import create_engine
from chatservice.adapters.sqlalchemy.repository import SqlAlchemyChatRepository
from chatservice.adapters.sqlalchemy.tables import WINDOW_INDEX

CLAIM = (
    "UPDATE chats SET claim_request_id = %s, claim_expires_at = %s WHERE id = %s AND user_id = %s "
    "AND status = 'active' AND (claim_request_id IS NULL OR claim_expires_at <= %s)"
)
CHAT = (
    "SELECT id, user_id, status, model, params, title, prompt_tokens, completion_tokens, "
    "created_at, updated_at, version FROM chats WHERE id = %s AND user_id = %s"
)
WINDOW = (
    f"SELECT * FROM messages FORCE INDEX ({WINDOW_INDEX}) WHERE chat_id = %s AND erased = 0 "
    "ORDER BY position"
)
COMMIT = (
    "UPDATE chats SET version = version + 1, updated_at = %s, "
    "prompt_tokens = prompt_tokens + %s, completion_tokens = completion_tokens + %s, "
    "claim_request_id = NULL, claim_expires_at = NULL "
    "WHERE id = %s AND version = %s AND claim_request_id = %s"
)
ERASE = (
    f"UPDATE messages FORCE INDEX ({WINDOW_INDEX}) SET erased = 1 "
    "WHERE chat_id = %s AND erased = 0 AND position > 0 AND position < %s"
)
INSERT = (
    "INSERT INTO messages (chat_id, position, id, role, content, tokens, erased, request_id, "
    "finish_reason, prompt_tokens, completion_tokens, usage_estimated, created_at) VALUES "
    "(%s, %s, %s, 'user', %s, 12, 0, %s, NULL, NULL, NULL, 0, %s), "
    "(%s, %s, %s, 'assistant', %s, 20, 0, NULL, 'stop', 40, 16, 0, %s)"
)


async def direct_sql_load(url: str, connections: int, per_connection: int,
                          warmed_up: Callable[[], None] = lambda: None) -> Latencies:  # fmt: skip
    engine = create_engine(url)
    chats = await add_chats(
        SqlAlchemyChatRepository(engine, window_cache_bytes=0), connections, "direct"
    )
    await engine.dispose()
    parsed = make_url(url)
    clients = [
        await asyncmy.connect(host=parsed.host, port=parsed.port or 3306, user=parsed.username,
                              password=parsed.password or "", database=parsed.database,
                              autocommit=False)
        for _ in range(connections)
    ]  # fmt: skip

    async def one(connection: int, i: int) -> bool:
        chat_id, user_id = chats[connection].id.encode(), chats[connection].user_id.encode()
        client = clients[connection]
        now = datetime.now(UTC).replace(tzinfo=None)
        key = str(uuid.uuid4()).encode()
        async with client.cursor() as cursor:
            await cursor.execute(CLAIM, (key, now + timedelta(seconds=120), chat_id, user_id, now))
            if cursor.rowcount != 1:
                return False
            await cursor.execute(CHAT, (chat_id, user_id))
            version = (await cursor.fetchone())[-1]
            await cursor.execute(WINDOW, (chat_id,))
            position = (await cursor.fetchall())[-1][1] + 1
            await client.commit()
            await cursor.execute(COMMIT, (now, 40, 16, chat_id, version, key))
            if position > 10:
                await cursor.execute(ERASE, (chat_id, position - 8))
            await cursor.execute(INSERT, (
                chat_id, position, str(uuid.uuid4()).encode(), f"{MESSAGE} {i}", key, now,
                chat_id, position + 1, str(uuid.uuid4()).encode(), "word " * 16, now,
            ))  # fmt: skip
            await client.commit()
        return True

    await run_load(connections, 20, one)
    warmed_up()
    result = await run_load(connections, per_connection, one)
    for client in clients:
        await client.ensure_closed()
    return result
