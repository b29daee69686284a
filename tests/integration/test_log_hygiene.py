"""What the service logs, at its most verbose, holds no secret and no conversation."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from chatservice.entrypoints.logs import configure_logging
from chatservice.entrypoints.settings import Settings
from support.http import AUTH, ROTATED_TOKEN, TOKEN, ApiFactory, unique_user
from support.openai_server import Behaviour, running_openai_server

KEY = "sk-log-hygiene-key-5f2e"
CONTENT = "confidential-content-7c1d"
REJECTED = "rejected-credential-9a3b"


class Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info:
            text += logging.Formatter().formatException(record.exc_info)
        self.lines.append(f"{record.name}: {text}")


@pytest.fixture
def collected() -> Iterator[Collector]:
    root = logging.getLogger()
    saved = root.level, {n: logging.getLogger(n).level for n in logging.root.manager.loggerDict}
    # As `chatservice serve` does with log_level = DEBUG.
    settings = Settings(log_level="DEBUG")
    configure_logging(settings.log_level, settings.log_format)
    collector = Collector()
    root.addHandler(collector)
    yield collector
    root.removeHandler(collector)
    root.setLevel(saved[0])
    for name, level in saved[1].items():
        logging.getLogger(name).setLevel(level)


async def test_logs_hold_no_token_key_rejected_credential_or_message_content(
    open_api: ApiFactory, collected: Collector, request: pytest.FixtureRequest
) -> None:
    u = unique_user("u", request)
    async with running_openai_server() as upstream:
        settings = {
            "gateway": "openai",
            "openai_base_url": upstream.base_url,
            "openai_api_key": KEY,
            "openai_max_retries": 0,
            # Only the stalled call below waits this out; no healthy one comes near it.
            "openai_idle_timeout": 2.0,
        }
        async with open_api(**settings) as api:
            chat = await api.new_chat(u, system_message=f"system {CONTENT}")
            path = f"/v1/users/{u}/chats/{chat['id']}/messages"
            assert (await api.client.post(path, json={"content": CONTENT}, headers=AUTH)).is_success
            for failure in (
                Behaviour(status=500),
                Behaviour(status=401),
                Behaviour(reply=f"{CONTENT} x y z", cut_after=2),
                Behaviour(stall_before_response=True),
            ):
                upstream.then(failure)
                await api.client.post(path, json={"content": CONTENT}, headers=AUTH)
            for header in (REJECTED, f"Bearer {REJECTED}", f"{TOKEN}x"):
                await api.client.get(f"/v1/users/{u}/chats", headers={"Authorization": header})
            await api.client.post(path, content=f'{{"content": "{CONTENT}', headers=AUTH)
            await api.client.post(path, json={"content": CONTENT * 30_000}, headers=AUTH)
            await api.client.get(f"/v1/users/{u}/chats/{chat['id']}", headers=AUTH)
    assert collected.lines, "nothing was logged: the test would prove nothing"
    secrets = (TOKEN, ROTATED_TOKEN, KEY, CONTENT, REJECTED)
    leaks = [line for line in collected.lines if any(s in line for s in secrets)]
    assert leaks == []
