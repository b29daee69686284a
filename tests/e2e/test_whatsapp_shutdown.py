"""SIGTERM while a WhatsApp turn runs in the background: it is drained (finished and sent through
Twilio's Messages API) within the grace period, or cut cleanly after it.

The service's model is the local OpenAI-compatible server of this test process, held mid-reply
by the test: the reply cannot be ready within the webhook's reply timeout, the turn is in flight
when SIGTERM arrives, and it is let go of (or not) while the service drains, by the test's hand.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import httpx

from chatservice.adapters.fake_gateway import StreamHold
from support.openai_server import OpenAICompatibleServer, running_openai_server
from support.process import ServiceProcess, start_service
from support.twilio_server import FakeTwilioMessages, running_twilio_messages
from support.waiting import GENEROUS_SECONDS, eventually
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


async def serve(
    tmp_path: Path, twilio: FakeTwilioMessages, model: OpenAICompatibleServer, grace: int
) -> ServiceProcess:
    env = {
        "CHATSERVICE_AUTH_TOKENS": "e2e-token",
        "CHATSERVICE_GATEWAY": "openai",
        "CHATSERVICE_OPENAI_BASE_URL": model.base_url,
        "CHATSERVICE_SHUTDOWN_GRACE_SECONDS": str(grace),
        "CHATSERVICE_PUBLIC_BASE_URL": PUBLIC_BASE_URL,
        "CHATSERVICE_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "CHATSERVICE_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "CHATSERVICE_TWILIO_API_BASE_URL": twilio.base_url,
        "CHATSERVICE_TWILIO_REPLY_TIMEOUT": "0.2",
    }
    # In a thread: the model's and Twilio's servers run on this test's event loop.
    service = await asyncio.to_thread(start_service, env, tmp_path)
    service.follow_output()
    return service


async def acknowledged_then_sigterm(service: ServiceProcess, hold: StreamHold) -> None:
    """Send a message whose reply the held model cannot finish within the reply timeout; once it
    is acknowledged and the model is mid-reply, SIGTERM the service; return once it drains."""
    fields = inbound(SENDER, "are you still there?")
    async with httpx.AsyncClient(base_url=service.http_url, timeout=GENEROUS_SECONDS) as http:
        response = await http.post(
            "/v1/twilio/whatsapp", data=fields, headers={"X-Twilio-Signature": signature(fields)}
        )
    assert replies(response) == []
    await hold.reached()
    await service.begin_shutdown()


async def exit_status(service: ServiceProcess) -> int:
    # In a thread: the fake Twilio must go on answering while the service drains.
    return await asyncio.to_thread(service.process.wait, 90)


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
    async with running_twilio_messages() as twilio, running_openai_server() as model:
        hold = model.hold(after_chunks=1)
        service = await serve(tmp_path, twilio, model, grace=60)

        await acknowledged_then_sigterm(service, hold)
        hold.release()

        assert await exit_status(service) == 0

    [sent] = twilio.accepted
    assert (sent.username, sent.password) == (ACCOUNT_SID, AUTH_TOKEN)
    assert (sent.form["From"], sent.form["To"]) == (OUR_NUMBER, SENDER)
    assert sent.form["Body"] == "Echo: are you still there?"
    assert stored_roles(tmp_path / "chatservice.db") == ["system", "user", "assistant"]


async def test_a_background_turn_past_the_grace_period_is_cut_and_stores_nothing(
    tmp_path: Path,
) -> None:
    async with running_twilio_messages() as twilio, running_openai_server() as model:
        hold = model.hold(after_chunks=1)  # never let go of
        service = await serve(tmp_path, twilio, model, grace=1)

        await acknowledged_then_sigterm(service, hold)

        assert await exit_status(service) == 0
        await eventually(lambda: model.abandoned == 1, "the model's stream was closed")

    assert twilio.received == []
    assert stored_roles(tmp_path / "chatservice.db") == ["system"]
