"""WhatsApp conversations: one chat per sender, `/new`, redeliveries, empty bodies, failures."""

from __future__ import annotations

import asyncio

import pytest

from chatservice.adapters.fake_gateway import ScriptedFailure
from chatservice.application.clock import utc_now
from chatservice.application.whatsapp import (
    APOLOGY,
    NEW_CHAT_STARTED,
    TEXT_ONLY,
    TOO_LONG,
    InboundMessage,
)
from chatservice.domain.chat import ChatStatus, Role
from chatservice.domain.errors import InvalidInput, ProviderTimeout
from chatservice.entrypoints.settings import Settings, SettingsError
from support.waiting import eventually
from support.whatsapp_service import SENDER, WhatsAppService, build_whatsapp, message


@pytest.fixture
def whatsapp() -> WhatsAppService:
    return build_whatsapp()


async def test_a_sender_talks_in_one_chat_across_messages(whatsapp: WhatsAppService) -> None:
    first = await whatsapp.answer(message("hi", "SM1"))
    second = await whatsapp.answer(message("and again", "SM2"))

    assert first is not None and first.startswith('You said: "hi"')
    assert second is not None and "I received 4 messages" in second
    assert await whatsapp.chats() == [ChatStatus.ACTIVE]


async def test_a_redelivered_message_gets_nothing_and_runs_no_turn(
    whatsapp: WhatsAppService,
) -> None:
    await whatsapp.answer(message("once", "SM1"))

    assert await whatsapp.answer(message("once", "SM1")) is None
    assert len(whatsapp.service.gateway.requests) == 1


async def test_new_ends_the_current_chat_and_starts_another(whatsapp: WhatsAppService) -> None:
    await whatsapp.answer(message("hi", "SM1"))

    assert await whatsapp.answer(message("/new", "SM2")) == NEW_CHAT_STARTED
    assert await whatsapp.chats() == [ChatStatus.ENDED, ChatStatus.ACTIVE]
    answer = await whatsapp.answer(message("fresh start", "SM3"))
    assert answer is not None and "I received 2 messages" in answer


async def test_new_as_a_first_message_starts_the_first_chat(whatsapp: WhatsAppService) -> None:
    assert await whatsapp.answer(message("/new")) == NEW_CHAT_STARTED
    assert await whatsapp.chats() == [ChatStatus.ACTIVE]


@pytest.mark.parametrize("body", ["", "   ", "\n\t"])
async def test_a_message_without_text_gets_a_text_answer_and_no_chat(
    whatsapp: WhatsAppService, body: str
) -> None:
    assert await whatsapp.answer(message(body)) == TEXT_ONLY
    assert await whatsapp.chats() == []


async def test_a_failed_turn_gets_an_apology_and_stores_nothing(
    whatsapp: WhatsAppService,
) -> None:
    whatsapp.service.gateway.fail_next(ScriptedFailure(ProviderTimeout("slow"), after_chunks=1))

    assert await whatsapp.answer(message("hello")) == APOLOGY
    [chat] = await whatsapp.service.repository.list_chats(SENDER, 10, None)
    stored = await whatsapp.service.repository.get_chat(SENDER, chat.id)
    assert [m.role for m in stored.messages] == [Role.SYSTEM]


async def test_a_message_too_long_for_the_service_gets_a_short_answer(
    whatsapp: WhatsAppService,
) -> None:
    assert await whatsapp.answer(message("x" * 100_001)) == TOO_LONG


@pytest.mark.parametrize(
    "bad",
    [message("hi", sender="not a number!"), message("hi", sid="SM 1"), message("hi", sid="")],
)
async def test_a_message_without_a_valid_sender_or_sid_is_refused_and_not_taken(
    whatsapp: WhatsAppService, bad: InboundMessage
) -> None:
    with pytest.raises(InvalidInput):
        await whatsapp.answer(bad)
    assert await whatsapp.directory.take_message(bad.message_sid, bad.sender, utc_now()) is True


async def test_a_message_waits_while_the_senders_previous_one_is_answered(
    whatsapp: WhatsAppService,
) -> None:
    hold = whatsapp.service.gateway.hold(after_chunks=1)
    first = asyncio.create_task(whatsapp.answer(message("first", "SM1")))
    await hold.reached()
    second = asyncio.create_task(whatsapp.answer(message("second", "SM2")))
    await eventually(
        lambda: whatsapp.service.repository.refused_claims > 0, "the second found the chat busy"
    )
    hold.release()

    answers = [await first, await second]

    assert all(a is not None and a.startswith("You said") for a in answers)
    [chat] = await whatsapp.service.repository.list_chats(SENDER, 10, None)
    stored = await whatsapp.service.repository.get_chat(SENDER, chat.id)
    assert len(stored.messages) == 5


async def test_a_chat_deleted_elsewhere_is_followed_by_a_new_one(
    whatsapp: WhatsAppService,
) -> None:
    await whatsapp.answer(message("hi", "SM1"))
    [chat] = await whatsapp.service.repository.list_chats(SENDER, 10, None)
    await whatsapp.service.repository.delete_chat(SENDER, chat.id)

    answer = await whatsapp.answer(message("still there?", "SM2"))

    assert answer is not None and "I received 2 messages" in answer
    assert await whatsapp.chats() == [ChatStatus.ACTIVE]


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"twilio_account_sid": "AC1"}, "twilio_account_sid"),
        ({"twilio_auth_token": "secret"}, "twilio_account_sid"),
        ({"twilio_reply_timeout": 15}, "twilio_reply_timeout"),
        ({"public_base_url": "chat.example.com"}, "public_base_url"),
    ],
)
def test_twilio_settings_that_cannot_work_stop_start_up(
    values: dict[str, object], named: str
) -> None:
    with pytest.raises(SettingsError, match=named):
        Settings(**values)  # type: ignore[arg-type]


def test_whatsapp_is_on_only_with_both_twilio_credentials() -> None:
    assert Settings().twilio_configured is False
    assert Settings(twilio_account_sid="AC1", twilio_auth_token="t").twilio_configured is True
