"""`chatservice serve` as a newcomer runs it: embedded defaults, printed token, curl-like calls."""

from __future__ import annotations

import asyncio
import secrets
import subprocess
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from support.databases import MYSQL_URL, execute_on_server
from support.process import CHATSERVICE, start_service
from support.waiting import GENEROUS_SECONDS


def test_serve_on_defaults_chats_and_keeps_chats_across_a_restart(tmp_path: Path) -> None:
    service = start_service({}, cwd=tmp_path)
    token = service.token()
    assert token, service.printed
    try:
        with httpx.Client(
            base_url=service.http_url, headers={"Authorization": token}, timeout=GENEROUS_SECONDS
        ) as http:
            first = http.post("/chat", json={"user_id": "u1", "user_message": "hi"})
            assert first.status_code == 200, first.text
            chat_id = first.json()["chat_id"]
            second = http.post(
                "/chat", json={"chat_id": chat_id, "user_id": "u1", "user_message": "more"}
            )
            assert second.json()["chat_id"] == chat_id
    finally:
        assert service.stop() == 0
    assert (tmp_path / "chatservice.db").exists()

    restarted = start_service({"CHATSERVICE_AUTH_TOKENS": "fixed-token"}, cwd=tmp_path)
    try:
        with httpx.Client(
            base_url=restarted.http_url,
            headers={"Authorization": "Bearer fixed-token"},
            timeout=GENEROUS_SECONDS,
        ) as http:
            chat = http.get(f"/v1/users/u1/chats/{chat_id}").json()
            roles = [m["role"] for m in chat["messages"]]
            assert roles == ["system", "user", "assistant", "user", "assistant"]
            assert http.get("/readyz").status_code == 200
            # The generated token of the first run is not configured any more.
            stale = http.get("/v1/users/u1/chats", headers={"Authorization": token})
            assert stale.status_code == 401
    finally:
        assert restarted.stop() == 0
    assert restarted.process.stdout is not None
    output = "\n".join(restarted.printed) + restarted.process.stdout.read()
    assert "fixed-token" not in output and token not in output
    assert "more" not in output and '"hi"' not in output


def test_a_bad_setting_stops_start_up_with_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [CHATSERVICE, "serve"],
        cwd=tmp_path,
        env={"CHATSERVICE_MODEL": "gpt-unknown", "PATH": "/usr/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "gpt-unknown" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_reserve_that_leaves_no_room_stops_start_up(tmp_path: Path) -> None:
    result = subprocess.run(
        [CHATSERVICE, "serve"],
        cwd=tmp_path,
        env={
            "CHATSERVICE_CONTEXT_WINDOW": "200",
            "CHATSERVICE_MAX_COMPLETION_TOKENS": "150",
            "PATH": "/usr/bin",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "at least 64" in result.stderr


@pytest.mark.mariadb
def test_serve_on_mysql_refuses_an_old_schema_until_migrated(tmp_path: Path) -> None:
    name = f"chatservice_unmigrated_{secrets.token_hex(4)}"
    asyncio.run(execute_on_server(f"CREATE DATABASE {name}"))
    url = make_url(MYSQL_URL).set(database=name).render_as_string(hide_password=False)
    env = {"CHATSERVICE_DATABASE_URL": url, "PATH": "/usr/bin"}
    try:
        refused = subprocess.run(
            [CHATSERVICE, "serve"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert refused.returncode == 2
        assert "chatservice migrate" in refused.stderr
        migrated = subprocess.run(
            [CHATSERVICE, "migrate"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert migrated.returncode == 0, migrated.stderr
        service = start_service({**env, "CHATSERVICE_AUTH_TOKENS": "t"}, cwd=tmp_path)
        try:
            with httpx.Client(
                base_url=service.http_url, headers={"Authorization": "t"}, timeout=GENEROUS_SECONDS
            ) as http:
                reply = http.post("/chat", json={"user_id": "u1", "user_message": "Olá 🙂 𝄞"})
                assert reply.status_code == 200, reply.text
                assert "Olá 🙂 𝄞" in reply.json()["content"]
        finally:
            assert service.stop() == 0
    finally:
        asyncio.run(execute_on_server(f"DROP DATABASE {name}"))
