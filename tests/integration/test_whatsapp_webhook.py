"""The WhatsApp webhook (docs/whatsapp.md) on SQLite and MariaDB: signed as Twilio signs,
answered as TwiML or later through a local fake of Twilio's Messages API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from chatservice.adapters.fake_gateway import ScriptedFailure
from chatservice.application.whatsapp import APOLOGY, NEW_CHAT_STARTED, TEXT_ONLY
from chatservice.domain.chat import ChatStatus, Role
from chatservice.domain.errors import ProviderUnavailable
from support.http import TOKEN
from support.whatsapp import (
    AUTH_TOKEN,
    PUBLIC_BASE_URL,
    WhatsApp,
    WhatsAppFactory,
    inbound,
    new_sid,
    replies,
    signature,
    unique_sender,
)


@pytest.fixture
async def whatsapp(open_whatsapp: WhatsAppFactory) -> AsyncIterator[WhatsApp]:
    async with open_whatsapp() as opened:
        yield opened


@pytest.fixture
def sender(request: pytest.FixtureRequest) -> str:
    return unique_sender(request)


async def test_a_signed_message_gets_the_models_reply_as_twiml(
    whatsapp: WhatsApp, sender: str
) -> None:
    response = await whatsapp.send(sender, "Olá! How are you?")

    [chat] = await whatsapp.chats(sender)
    assert [m.role for m in chat.messages] == [Role.SYSTEM, Role.USER, Role.ASSISTANT]
    assert chat.messages[1].content == "Olá! How are you?"
    assert replies(response) == [chat.messages[2].content]
    assert replies(response)[0].startswith('You said: "Olá! How are you?"')
    assert whatsapp.twilio.received == []


async def test_the_next_message_from_the_same_number_continues_the_same_chat(
    whatsapp: WhatsApp, sender: str
) -> None:
    await whatsapp.send(sender, "first")
    response = await whatsapp.send(sender, "second")

    [chat] = await whatsapp.chats(sender)
    assert [m.content for m in chat.messages if m.role is Role.USER] == ["first", "second"]
    assert "I received 4 messages" in replies(response)[0]
    assert chat.status is ChatStatus.ACTIVE


@pytest.mark.parametrize(
    "forgery",
    ["no signature", "another token", "another url", "tampered body", "a bearer token instead"],
)
async def test_a_forged_or_missing_signature_is_403_and_stores_nothing(
    whatsapp: WhatsApp, sender: str, forgery: str
) -> None:
    fields = inbound(sender, "let me in")
    headers = {
        "no signature": {},
        "another token": {"X-Twilio-Signature": signature(fields, token=AUTH_TOKEN + "x")},
        "another url": {"X-Twilio-Signature": signature(fields, url="https://evil.example/hook")},
        "tampered body": {"X-Twilio-Signature": signature({**fields, "Body": "hello"})},
        "a bearer token instead": {"Authorization": f"Bearer {TOKEN}"},
    }[forgery]
    before = await whatsapp.snapshot(sender)

    response = await whatsapp.post(fields, headers)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "invalid_signature"
    assert await whatsapp.snapshot(sender) == before
    assert len(whatsapp.gateway.requests) == 0


async def test_a_redelivered_message_runs_one_turn_and_is_answered_once(
    whatsapp: WhatsApp, sender: str
) -> None:
    sid = new_sid()
    first = await whatsapp.send(sender, "only once", sid)
    again = await whatsapp.send(sender, "only once", sid)

    assert len(replies(first)) == 1
    assert replies(again) == []
    [chat] = await whatsapp.chats(sender)
    assert len(chat.messages) == 3
    assert len(whatsapp.gateway.requests) == 1


async def test_concurrent_redeliveries_of_one_message_run_one_turn(
    whatsapp: WhatsApp, sender: str
) -> None:
    sid = new_sid()

    responses = await asyncio.gather(*(whatsapp.send(sender, "at once", sid) for _ in range(5)))

    answered = [replies(r) for r in responses]
    assert sorted(len(parts) for parts in answered) == [0, 0, 0, 0, 1]
    [chat] = await whatsapp.chats(sender)
    assert [m.role for m in chat.messages] == [Role.SYSTEM, Role.USER, Role.ASSISTANT]
    assert len(whatsapp.gateway.requests) == 1


async def test_distinct_first_messages_racing_from_a_new_number_share_one_chat(
    whatsapp: WhatsApp, sender: str
) -> None:
    texts = [f"message {n}" for n in range(4)]

    responses = await asyncio.gather(*(whatsapp.send(sender, text) for text in texts))

    assert all(len(replies(r)) == 1 for r in responses)
    [chat] = await whatsapp.chats(sender)
    assert sorted(m.content for m in chat.messages if m.role is Role.USER) == texts
    assert [m.position for m in chat.messages] == list(range(9))


async def test_new_ends_the_chat_and_starts_another_once_however_often_it_is_delivered(
    whatsapp: WhatsApp, sender: str
) -> None:
    await whatsapp.send(sender, "in the first chat")
    sid = new_sid()

    started = await whatsapp.send(sender, " /NEW ", sid)
    redelivered = await whatsapp.send(sender, " /NEW ", sid)
    await whatsapp.send(sender, "in the second chat")

    assert replies(started) == [NEW_CHAT_STARTED]
    assert replies(redelivered) == []
    old, new = await whatsapp.chats(sender)
    assert old.status is ChatStatus.ENDED and new.status is ChatStatus.ACTIVE
    assert [m.content for m in old.messages if m.role is Role.USER] == ["in the first chat"]
    assert [m.content for m in new.messages if m.role is Role.USER] == ["in the second chat"]


async def test_a_media_only_message_gets_a_text_answer_and_runs_no_turn(
    whatsapp: WhatsApp, sender: str
) -> None:
    response = await whatsapp.send(sender, "", media=2)

    assert replies(response) == [TEXT_ONLY]
    assert await whatsapp.chats(sender) == []
    assert len(whatsapp.gateway.requests) == 0


async def test_a_message_with_a_picture_and_a_caption_is_answered_from_the_caption(
    whatsapp: WhatsApp, sender: str
) -> None:
    response = await whatsapp.send(sender, "what is this?", media=1)

    assert replies(response)[0].startswith('You said: "what is this?"')


async def test_xml_special_characters_in_a_reply_are_escaped(
    whatsapp: WhatsApp, sender: str
) -> None:
    text = 'if a < b && c > d then "x" isn\'t ]]> <Message>injected</Message>'

    response = await whatsapp.send(sender, text)

    assert "<Message>injected</Message>" not in response.text
    assert "&lt;Message&gt;" in response.text
    assert replies(response) == [(await whatsapp.chats(sender))[0].messages[2].content]
    assert text in replies(response)[0]


async def test_a_failing_model_gets_an_apology_and_stores_no_turn(
    whatsapp: WhatsApp, sender: str
) -> None:
    await whatsapp.send(sender, "hello")
    whatsapp.gateway.fail_next(ScriptedFailure(ProviderUnavailable("down"), after_chunks=2))

    response = await whatsapp.send(sender, "are you there?")

    assert replies(response) == [APOLOGY]
    [chat] = await whatsapp.chats(sender)
    assert [m.content for m in chat.messages if m.role is Role.USER] == ["hello"]


async def test_a_chat_ended_through_the_api_is_followed_by_a_new_one(
    whatsapp: WhatsApp, sender: str
) -> None:
    await whatsapp.send(sender, "hello")
    [chat] = await whatsapp.chats(sender)
    await whatsapp.container.end_chat()(sender, chat.id)

    response = await whatsapp.send(sender, "still there?")

    assert "I received 2 messages" in replies(response)[0]
    old, new = await whatsapp.chats(sender)
    assert (old.id, old.status, new.status) == (chat.id, ChatStatus.ENDED, ChatStatus.ACTIVE)


async def test_the_webhook_is_404_without_twilio_settings_and_the_service_still_starts(
    open_whatsapp: WhatsAppFactory, sender: str
) -> None:
    async with open_whatsapp(twilio_account_sid=None, twilio_auth_token=None) as whatsapp:
        response = await whatsapp.send(sender, "anyone?")
        ready = await whatsapp.client.get("/readyz")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "whatsapp_not_configured"
    assert ready.status_code == 200


async def test_the_signature_covers_the_public_url_not_the_one_the_service_sees(
    open_whatsapp: WhatsAppFactory, sender: str
) -> None:
    async with open_whatsapp(public_base_url=PUBLIC_BASE_URL + "/") as whatsapp:
        fields = inbound(sender, "through a proxy")
        seen_by_service = signature(fields, url="http://test/v1/twilio/whatsapp")

        refused = await whatsapp.post(fields, {"X-Twilio-Signature": seen_by_service})
        accepted = await whatsapp.post(fields, {"X-Twilio-Signature": signature(fields)})

    assert refused.status_code == 403
    assert len(replies(accepted)) == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [("From", "not a number!"), ("MessageSid", "SM 1"), ("To", "")],
)
async def test_a_signed_form_without_a_valid_sender_or_sid_is_400_and_stores_nothing(
    whatsapp: WhatsApp, sender: str, field: str, value: str
) -> None:
    fields = {**inbound(sender, "hello"), field: value}
    before = await whatsapp.snapshot(sender, fields["From"])

    response = await whatsapp.post(fields, {"X-Twilio-Signature": signature(fields)})

    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_input"
    assert await whatsapp.snapshot(sender, fields["From"]) == before
