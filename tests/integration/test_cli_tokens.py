"""`chatservice tokens` and `chatservice migrate`, run as the installed command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REFERENCE = Path(__file__).parents[1] / "support" / "reference_conversation.json"
# The console script installed beside this interpreter, whatever PATH says.
CHATSERVICE = str(Path(sys.executable).parent / "chatservice")


def run(
    *args: str, stdin: str | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CHATSERVICE, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env={"PATH": str(Path(CHATSERVICE).parent), "HOME": "/nonexistent"},
    )


@pytest.mark.parametrize(
    ("model", "expected"), [("gpt-4", "129"), ("gpt-4o", "124"), ("gpt-4o-2024-08-06", "124")]
)
def test_tokens_prints_the_reference_figures(model: str, expected: str) -> None:
    result = run("tokens", "--model", model, str(REFERENCE))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


def test_tokens_reads_standard_input() -> None:
    result = run("tokens", "--model", "gpt-4", "-", stdin=REFERENCE.read_text())
    assert result.stdout.strip() == "129"


@pytest.mark.parametrize(
    ("args", "stdin", "complaint"),
    [
        (("tokens", "--model", "gpt-9", "-"), "[]", "unknown model"),
        (("tokens", "--model", "gpt-4", "-"), '{"role": "user"}', "not a list"),
        (("tokens", "--model", "gpt-4", "-"), '[{"role": "user"}]', "not a list"),
        (("tokens", "--model", "gpt-4", "-"), "not json", "not a list"),
    ],
)
def test_tokens_explains_bad_input_in_one_line(
    args: tuple[str, ...], stdin: str, complaint: str
) -> None:
    result = run(*args, stdin=stdin)
    assert result.returncode == 2
    assert complaint in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_migrate_works_from_any_directory(tmp_path: Path) -> None:
    database = tmp_path / "nested" / "chat.db"
    env_run = subprocess.run(
        [CHATSERVICE, "migrate"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={"CHATSERVICE_DATABASE_URL": f"sqlite+aiosqlite:///{database}", "PATH": "/usr/bin"},
    )
    assert env_run.returncode == 0, env_run.stderr
    assert database.exists()
