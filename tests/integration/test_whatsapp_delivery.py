"""WhatsApp answers that miss the webhook's window: acknowledged at once, then sent through a
local fake of Twilio's Messages API, retried, split, and not stopped by the caller hanging up."""

from __future__ import annotations

import asyncio

import pytest

from support.openai_server import Behaviour, running_openai_server
from support.waiting import GENEROUS_SECONDS
from support.whatsapp import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    OUR_NUMBER,
    WhatsAppFactory,
    replies,
    unique_sender,
)


@pytest.fixture
def sender(request: pytest.FixtureRequest) -> str:
    return unique_sender(request)


async def test_a_slow_reply_is_acknowledged_at_once_and_sent_through_the_messages_api(
    open_whatsapp: WhatsAppFactory, sender: str
) -> None:
    async with open_whatsapp(twilio_reply_timeout=0.2) as whatsapp:
        hold = whatsapp.gateway.hold(after_chunks=1)
        # The model is held until the webhook has answered: an answer that waited for the
        # reply would never come.
        response = await asyncio.wait_for(whatsapp.send(sender, "take your time"), GENEROUS_SECONDS)

        assert replies(response) == []
        assert whatsapp.twilio.received == []
        hold.release()
        [sent] = await whatsapp.twilio.wait_for(1)
        [chat] = await whatsapp.chats(sender)
    assert sent.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert (sent.username, sent.password) == (ACCOUNT_SID, AUTH_TOKEN)
    assert sent.form == {"From": OUR_NUMBER, "To": sender, "Body": chat.messages[2].content}
    assert sent.form["Body"].startswith('You said: "take your time"')


async def test_a_caller_hanging_up_does_not_stop_the_reply(
    open_whatsapp: WhatsAppFactory, sender: str
) -> None:
    async with open_whatsapp(twilio_reply_timeout=5) as whatsapp:
        hold = whatsapp.gateway.hold(after_chunks=1)
        webhook = asyncio.create_task(whatsapp.send(sender, "hanging up"))
        # Hang up once the model is answering: before the message is taken, Twilio would retry
        # (no 200 came back), and sending nothing would then be right.
        await hold.reached()
        webhook.cancel()
        with pytest.raises(asyncio.CancelledError):
            await webhook
        hold.release()

        [sent] = await whatsapp.twilio.wait_for(1)
        [chat] = await whatsapp.chats(sender)
    assert sent.form["Body"] == chat.messages[2].content


async def test_a_failed_send_is_retried_until_twilio_takes_it(
    open_whatsapp: WhatsAppFactory, sender: str
) -> None:
    async with open_whatsapp(twilio_reply_timeout=0.1) as whatsapp:
        whatsapp.twilio.fail_next(503, 429)
        hold = whatsapp.gateway.hold(after_chunks=1)

        assert replies(await whatsapp.send(sender, "persist")) == []
        hold.release()
        [sent] = await whatsapp.twilio.wait_for(1)

    assert [r.status for r in whatsapp.twilio.received] == [503, 429, 201]
    assert {r.form["Body"] for r in whatsapp.twilio.received} == {sent.form["Body"]}


async def test_a_long_reply_is_split_into_parts_of_at_most_1600_characters_in_order(
    open_whatsapp: WhatsAppFactory, sender: str
) -> None:
    words = [f"word{n:04d}" for n in range(500)]  # 4,499 characters
    async with running_openai_server() as model:
        model.default = Behaviour(reply=" ".join(words))
        openai = {"gateway": "openai", "openai_base_url": model.base_url}
        # In time (the default reply timeout, seconds): the parts come back as TwiML.
        async with open_whatsapp(**openai) as whatsapp:
            parts = replies(await whatsapp.send(sender, "tell me everything"))
        # Late (the model held past the reply timeout): the parts go through the Messages API.
        async with open_whatsapp(twilio_reply_timeout=0.1, **openai) as whatsapp:
            hold = model.hold(after_chunks=0)
            assert replies(await whatsapp.send(sender, "again, slowly")) == []
            hold.release()
            sent = [r.form["Body"] for r in await whatsapp.twilio.wait_for(3)]

    for delivered in (parts, sent):
        assert len(delivered) == 3
        assert all(len(part) <= 1600 for part in delivered)
        assert " ".join(delivered).split() == words
