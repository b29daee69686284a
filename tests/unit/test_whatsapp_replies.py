"""Getting WhatsApp answers out: TwiML in time or the messenger later, split into parts,
retried sends, and background work that outlives its request until shutdown drains it."""

from __future__ import annotations

import asyncio

import pytest

from chatservice.application.background import BackgroundWork
from chatservice.application.whatsapp import split_reply
from chatservice.application.whatsapp_replies import DeliverReply
from chatservice.domain.errors import InvalidInput
from support.waiting import GENEROUS_SECONDS
from support.whatsapp_service import OURS, SENDER, WhatsAppService, build_whatsapp, message


@pytest.fixture
def whatsapp() -> WhatsAppService:
    return build_whatsapp()


def test_a_short_reply_is_one_part() -> None:
    assert split_reply("  hello there \n") == ["hello there"]
    assert split_reply("") == []


def test_a_long_reply_is_cut_at_word_boundaries_into_parts_that_fit_in_order() -> None:
    words = [f"w{n}" * (n % 7 + 1) for n in range(1200)]
    text = " ".join(words)

    parts = split_reply(text, limit=100)

    assert all(len(p) <= 100 for p in parts)
    assert " ".join(parts).split() == words
    assert all(not p.startswith(" ") and not p.endswith(" ") for p in parts)


def test_a_word_longer_than_a_part_is_cut_where_the_part_is_full() -> None:
    assert split_reply("a " + "x" * 25, limit=10) == ["a", "x" * 10, "x" * 10, "x" * 5]


def test_parts_are_measured_as_twilio_counts_them_in_utf16_code_units() -> None:
    parts = split_reply("🙂" * 1000)

    assert [len(p) for p in parts] == [800, 200]
    assert "".join(parts) == "🙂" * 1000


def test_a_part_of_exactly_the_limit_is_not_cut() -> None:
    assert split_reply("x" * 1600) == ["x" * 1600]
    assert split_reply("x" * 1600 + " y") == ["x" * 1600, "y"]


async def test_a_reply_ready_in_time_comes_back_in_parts(whatsapp: WhatsAppService) -> None:
    parts = await whatsapp.reply(timeout=GENEROUS_SECONDS)(message("hello"))

    assert len(parts) == 1 and parts[0].startswith('You said: "hello"')
    assert whatsapp.messenger.sent == []


async def test_a_late_reply_is_sent_by_the_messenger_from_our_number_to_the_sender(
    whatsapp: WhatsAppService,
) -> None:
    hold = whatsapp.service.gateway.hold(after_chunks=1)

    parts = await whatsapp.reply(timeout=0.05)(message("hello"))
    assert parts == []
    assert whatsapp.work.running == 1
    hold.release()
    await whatsapp.work.drain(GENEROUS_SECONDS)

    [(sender, recipient, body)] = whatsapp.messenger.sent
    assert (sender, recipient) == (OURS, SENDER)
    assert body.startswith('You said: "hello"')


async def test_a_redelivery_is_acknowledged_with_nothing(whatsapp: WhatsAppService) -> None:
    reply = whatsapp.reply(timeout=GENEROUS_SECONDS)
    await reply(message("hello", "SM1"))

    assert await reply(message("hello", "SM1")) == []


async def test_a_message_without_a_valid_sender_is_refused_before_any_work_starts(
    whatsapp: WhatsAppService,
) -> None:
    with pytest.raises(InvalidInput):
        await whatsapp.reply(timeout=GENEROUS_SECONDS)(message("hello", sender="bad sender"))
    assert whatsapp.work.running == 0


async def test_a_send_that_may_succeed_later_is_retried(whatsapp: WhatsAppService) -> None:
    whatsapp.messenger.fail_next(True, True)

    assert await DeliverReply(whatsapp.messenger, retry_delays=(0, 0, 0))(OURS, SENDER, "hi")

    assert whatsapp.messenger.sent == [(OURS, SENDER, "hi")]
    assert whatsapp.messenger.attempts == 3


async def test_a_send_refused_for_good_is_not_retried_and_stops_the_later_parts(
    whatsapp: WhatsAppService,
) -> None:
    whatsapp.messenger.fail_next(False)

    delivered = await DeliverReply(whatsapp.messenger, retry_delays=(0, 0))(
        OURS, SENDER, "x" * 1600 + " y"
    )

    assert delivered is False
    assert whatsapp.messenger.attempts == 1


async def test_a_send_gives_up_after_its_retries(whatsapp: WhatsAppService) -> None:
    whatsapp.messenger.fail_next(*[True] * 10)
    pauses: list[float] = []

    async def record(seconds: float) -> None:
        pauses.append(seconds)

    deliver = DeliverReply(whatsapp.messenger, retry_delays=(1, 4, 15), sleep=record)

    assert await deliver(OURS, SENDER, "hi") is False
    assert (whatsapp.messenger.attempts, pauses) == (4, [1, 4, 15])


async def test_drain_waits_for_work_in_flight_and_cancels_what_outlives_the_grace() -> None:
    work = BackgroundWork()
    finished: list[str] = []
    quick_may_end, never = asyncio.Event(), asyncio.Event()

    async def take(until: asyncio.Event, name: str) -> None:
        await until.wait()
        finished.append(name)

    work.start(take(quick_may_end, "quick"))
    slow = work.start(take(never, "slow"))
    quick_may_end.set()

    await work.drain(0.3)

    assert finished == ["quick"]
    assert slow.cancelled()
    assert work.running == 0


async def test_work_is_not_cancelled_with_the_task_that_started_it() -> None:
    work = BackgroundWork()
    started, may_end, done = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def background() -> None:
        await may_end.wait()
        done.set()

    async def request() -> None:
        work.start(background())
        started.set()
        await asyncio.Event().wait()  # the request is still running when it is cancelled

    caller = asyncio.create_task(request())
    await started.wait()
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller

    may_end.set()
    await asyncio.wait_for(done.wait(), GENEROUS_SECONDS)
