"""`chatservice prune [--dry-run]`: what retention no longer keeps, counted or deleted once."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from chatservice.adapters.sqlalchemy.engine import create_engine
from chatservice.adapters.sqlalchemy.repository import SqlAlchemyChatRepository
from chatservice.adapters.sqlalchemy.whatsapp_directory import SqlAlchemyWhatsAppDirectory
from chatservice.application.clock import utc_now
from support.chat_records import new_chat, new_user

CHATSERVICE = str(Path(sys.executable).parent / "chatservice")


def run(*arguments: str, database_url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CHATSERVICE, *arguments],
        capture_output=True,
        text=True,
        timeout=120,
        env={
            "CHATSERVICE_DATABASE_URL": database_url,
            "CHATSERVICE_RETENTION_DAYS": "30",
            "PATH": "/usr/bin",
        },
    )


async def _seed(url: str) -> list[str]:
    """Two chats past retention, one within it, and a WhatsApp record past its 7 days."""
    engine = create_engine(url)
    try:
        repository = SqlAlchemyChatRepository(engine, 0)
        now = utc_now()
        chats = [
            new_chat(new_user(), exchanges=1, created_at=now, updated_at=now - timedelta(days=d))
            for d in (31, 40, 29)
        ]
        for chat in chats:
            await repository.add_chat(chat)
        directory = SqlAlchemyWhatsAppDirectory(engine)
        await directory.take_message("SMold", "whatsapp:+1", now - timedelta(days=8))
        await directory.take_message("SMnew", "whatsapp:+1", now - timedelta(days=6))
        return [chat.user_id for chat in chats]
    finally:
        await engine.dispose()


def test_prune_counts_on_a_dry_run_then_deletes_once(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/chatservice.db"
    assert run("migrate", database_url=url).returncode == 0
    asyncio.run(_seed(url))

    dry = run("prune", "--dry-run", database_url=url)
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.startswith("would delete 2 chats not updated for 30 days")
    assert "and 1 WhatsApp message records older than 7 days" in dry.stdout

    done = run("prune", database_url=url)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("deleted 2 chats")
    assert "and 1 WhatsApp message records" in done.stdout

    again = run("prune", database_url=url)
    assert again.stdout.startswith("deleted 0 chats") and "and 0 WhatsApp" in again.stdout


def test_prune_refuses_a_schema_that_is_not_current(tmp_path: Path) -> None:
    result = run("prune", database_url=f"sqlite+aiosqlite:///{tmp_path}/empty.db")
    assert result.returncode == 2
    assert "run `chatservice migrate` first" in result.stderr
