"""The migrations on SQLite and MariaDB: they build the schema the tables declare, and carry a
database stored by an older release over to the newest one."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url

from chatservice.adapters.sqlalchemy.engine import create_engine
from chatservice.adapters.sqlalchemy.repository import SqlAlchemyChatRepository
from chatservice.adapters.sqlalchemy.search import FULLTEXT_INDEX, SQLITE_INDEX
from chatservice.adapters.sqlalchemy.tables import metadata
from chatservice.domain.chat import Role
from support.chat_records import claim
from support.databases import MYSQL_URL, execute_on_server

T0 = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("mariadb", marks=pytest.mark.mariadb)])
async def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A database of each kind with no schema at all, dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/chatservice.db"
        return
    name = f"chatservice_migrations_{secrets.token_hex(6)}"
    await execute_on_server(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
    try:
        yield make_url(MYSQL_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        await execute_on_server(f"DROP DATABASE {name}")


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(files("chatservice.migrations")))
    config.attributes["url"] = url
    return config


async def migrate(url: str, to: str, *, down: bool = False) -> None:
    """Run alembic in a worker thread: its env.py runs an event loop of its own."""
    step = command.downgrade if down else command.upgrade
    await asyncio.to_thread(step, alembic_config(url), to)


async def run_on(url: str, statements: list[tuple[str, dict[str, Any]]]) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            for statement, parameters in statements:
                await connection.execute(text(statement), parameters)
    finally:
        await engine.dispose()


def _declared_by_the_tables(
    _object: object, name: str | None, kind: str, _reflected: bool, _compare_to: object
) -> bool:
    """Whether the tables declare what is named, alike on every database: all but the search
    index, which is SQLite's FTS5 virtual table (and its shadow tables) there, and a FULLTEXT
    index on MySQL/MariaDB, which alembic would compare on SQLite too. Searches on MariaDB
    fail without it (tests/contract/test_chat_repository_life_cycle.py)."""
    if kind == "index":
        return name != FULLTEXT_INDEX
    return not (kind == "table" and name is not None and name.startswith(SQLITE_INDEX))


async def test_the_migrated_schema_is_the_one_the_tables_declare(empty_database_url: str) -> None:
    await migrate(empty_database_url, "head")

    def differences(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_object": _declared_by_the_tables}
        )
        return list(compare_metadata(context, metadata))

    engine = create_engine(empty_database_url)
    try:
        async with engine.connect() as connection:
            assert await connection.run_sync(differences) == []
    finally:
        await engine.dispose()


async def test_chats_stored_before_conversation_control_read_back_as_current_messages(
    empty_database_url: str,
) -> None:
    url = empty_database_url
    await migrate(url, "0002")
    chat_id, user_id = "00000000-0000-4000-8000-000000000001", "alice"
    message_row = (
        "INSERT INTO messages (chat_id, position, id, role, content, tokens, erased, request_id,"
        " usage_estimated, created_at) VALUES (:chat, :position, :id, :role, :content, 5,"
        " :erased, :key, :estimated, :at)"
    )
    await run_on(
        url,
        [
            (
                "INSERT INTO chats (id, user_id, status, model, params, title, prompt_tokens,"
                " completion_tokens, created_at, updated_at, version) VALUES (:chat, :user,"
                " 'active', 'gpt-4o-mini', :params, 'hi', 10, 5, :at, :at, 1)",
                {
                    "chat": chat_id,
                    "user": user_id,
                    "params": '{"max_completion_tokens":256}',
                    "at": T0.replace(tzinfo=None),
                },
            ),
            *(
                (
                    message_row,
                    {
                        "chat": chat_id,
                        "position": position,
                        "id": f"00000000-0000-4000-8000-00000000010{position}",
                        "role": role,
                        "content": role,
                        "erased": position == 1,
                        "key": "key" if role == "user" else None,
                        "estimated": False,
                        "at": T0.replace(tzinfo=None),
                    },
                )
                for position, role in enumerate(["system", "user", "assistant"])
            ),
        ],
    )

    await migrate(url, "head")

    engine = create_engine(url)
    try:
        repository = SqlAlchemyChatRepository(engine, window_cache_bytes=0)
        chat = await repository.get_chat(user_id, chat_id)
        window = await repository.claim_turn(user_id, chat_id, claim(at=T0))
        # The search index is filled with what was stored before it (but system messages).
        found = [
            [c.id for c in await repository.search_chats(user_id, (word,), 10, None)]
            for word in ("user", "assistant", "system")
        ]
    finally:
        await engine.dispose()
    assert [m.role for m in chat.messages] == [Role.SYSTEM, Role.USER, Role.ASSISTANT]
    assert not any(m.superseded or m.replaces for m in chat.messages)
    assert chat.forked_from is None
    assert [m.position for m in window.messages] == [0, 2]
    assert found == [[chat_id], [chat_id], []]


async def test_the_newest_migration_goes_down_and_up_again(empty_database_url: str) -> None:
    await migrate(empty_database_url, "head")
    await migrate(empty_database_url, "-1", down=True)
    await migrate(empty_database_url, "head")
