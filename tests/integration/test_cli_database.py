"""`chatservice serve` and `migrate` against a database they cannot use: one line, exit 2."""

from __future__ import annotations

import secrets
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from support.databases import MYSQL_URL

# The console script installed beside this interpreter, whatever PATH says.
CHATSERVICE = str(Path(sys.executable).parent / "chatservice")
COMMANDS = ["serve", "migrate"]


def run(command: str, database_url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CHATSERVICE, command],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env={"CHATSERVICE_DATABASE_URL": database_url, "PATH": "/usr/bin"},
    )


@pytest.fixture
def port_nobody_listens_on() -> Iterator[int]:
    """A local port held bound and never listened on: every connection to it is refused."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield held.getsockname()[1]


@pytest.mark.mariadb
@pytest.mark.parametrize("command", COMMANDS)
def test_a_database_that_does_not_exist_is_named_in_one_line(command: str, tmp_path: Path) -> None:
    missing = f"chatservice_missing_{secrets.token_hex(4)}"
    url = make_url(MYSQL_URL).set(database=missing).render_as_string(hide_password=False)

    result = run(command, url, tmp_path)

    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"chatservice: database '{missing}' does not exist on the server at "
        f"{make_url(MYSQL_URL).host}:{make_url(MYSQL_URL).port or 3306}; create it, then run "
        "`chatservice migrate`"
    ]


@pytest.mark.parametrize("command", COMMANDS)
def test_a_database_server_that_does_not_answer_is_named_in_one_line(
    command: str, port_nobody_listens_on: int, tmp_path: Path
) -> None:
    url = f"mysql+asyncmy://chat:secret@127.0.0.1:{port_nobody_listens_on}/chatservice"

    result = run(command, url, tmp_path)

    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"chatservice: no database server answers at 127.0.0.1:{port_nobody_listens_on}"
    ]
    assert "secret" not in result.stdout + result.stderr


@pytest.mark.parametrize("command", COMMANDS)
def test_a_sqlite_folder_that_cannot_be_created_is_named_in_one_line(
    command: str, tmp_path: Path
) -> None:
    (tmp_path / "a-file").write_text("not a folder")

    result = run(command, f"sqlite+aiosqlite:///{tmp_path / 'a-file' / 'chat.db'}", tmp_path)

    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"chatservice: cannot create the SQLite database's folder {tmp_path / 'a-file'}: "
        "File exists"
    ]
