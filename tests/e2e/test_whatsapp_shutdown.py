"""SIGTERM while a WhatsApp turn runs in the background: it is drained (finished and sent through
Twilio's Messages API) within the grace period, or cut cleanly after it."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
from pathlib import Path

import httpx

from support.process import ServiceProcess, start_service
from support.twilio_server import FakeTwilioMessages, running_twilio_messages
from support.waiting import GENEROUS_SECONDS
from support.whatsapp import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    OUR_NUMBER,
    PUBLIC_BASE_URL,
    inbound,
    replies,
    signature,
)

SENDER = "whatsapp:+5511999990000"


def serve(
    tmp_path: Path, twilio: FakeTwilioMessages, chunk_delay_ms: int, grace: int
) -> ServiceProcess:
    return start_service(
        {
            "CHATSERVICE_AUTH_TOKENS": "e2e-token",
            "CHATSERVICE_FAKE_CHUNK_DELAY_MS": str(chunk_delay_ms),
            "CHATSERVICE_SHUTDOWN_GRACE_SECONDS": str(grace),
            "CHATSERVICE_PUBLIC_BASE_URL": PUBLIC_BASE_URL,
            "CHATSERVICE_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "CHATSERVICE_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "CHATSERVICE_TWILIO_API_BASE_URL": twilio.base_url,
            "CHATSERVICE_TWILIO_REPLY_TIMEOUT": "0.2",
        },
        cwd=tmp_path,
    )


async def acknowledged_then_sigterm(service: ServiceProcess) -> int:
    """Send a message that outlasts the reply timeout, SIGTERM the service as soon as it is
    acknowledged, and return the exit status (waiting without blocking the fake Twilio)."""
    fields = inbound(SENDER, "are you still there?")
    async with httpx.AsyncClient(base_url=service.http_url, timeout=GENEROUS_SECONDS) as http:
        response = await http.post(
            "/v1/twilio/whatsapp", data=fields, headers={"X-Twilio-Signature": signature(fields)}
        )
    assert replies(response) == []
    service.process.send_signal(signal.SIGTERM)
    return await asyncio.to_thread(service.process.wait, 60)


def stored_roles(database: Path) -> list[str]:
    with sqlite3.connect(database) as db:
        return [
            row[0]
            for row in db.execute(
                "SELECT m.role FROM messages m JOIN chats c ON c.id = m.chat_id "
                "WHERE c.user_id = ? ORDER BY m.position",
                (SENDER,),
            )
        ]


async def test_a_background_turn_in_flight_at_sigterm_finishes_and_is_sent(tmp_path: Path) -> None:
    async with running_twilio_messages() as twilio:
        service = serve(tmp_path, twilio, chunk_delay_ms=100, grace=20)

        assert await acknowledged_then_sigterm(service) == 0

    [sent] = twilio.accepted
    assert (sent.username, sent.password) == (ACCOUNT_SID, AUTH_TOKEN)
    assert (sent.form["From"], sent.form["To"]) == (OUR_NUMBER, SENDER)
    assert sent.form["Body"].startswith('You said: "are you still there?"')
    assert stored_roles(tmp_path / "chatservice.db") == ["system", "user", "assistant"]


async def test_a_background_turn_past_the_grace_period_is_cut_and_stores_nothing(
    tmp_path: Path,
) -> None:
    async with running_twilio_messages() as twilio:
        service = serve(tmp_path, twilio, chunk_delay_ms=500, grace=1)

        assert await acknowledged_then_sigterm(service) == 0

    assert twilio.received == []
    assert stored_roles(tmp_path / "chatservice.db") == ["system"]
