"""The `OutboundMessenger` contract, for every adapter of the port.

The Twilio messenger runs against a local stand-in for Twilio's Messages API over real HTTP,
behind a TCP proxy the test can cut; the failures are scripted there, at the HTTP level, and must
come out as the same `MessageNotSent` the in-memory messenger raises.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass

import pytest

from chatservice.adapters.memory_messenger import InMemoryOutboundMessenger
from chatservice.adapters.twilio_sender import TwilioAccount, TwilioOutboundMessenger
from chatservice.application.ports import MessageNotSent, OutboundMessenger
from support.tcp_proxy import tcp_proxy
from support.twilio_server import running_twilio_messages

ACCOUNT_SID = "AC" + "5678efab" * 4
OURS = "whatsapp:+14155238886"
THEIRS = "whatsapp:+5511999990000"
BODY = "Olá 🙂 — the body: a=1&b=2+3, 100% sure\nsecond line"

#: How a send can fail, and whether trying again may help.
FAILURES = {
    "unreachable": True,
    "rate limited": True,
    "provider down": True,
    "refused number": False,
    "bad credentials": False,
}


@dataclass
class MessengerUnderTest:
    messenger: OutboundMessenger
    #: The messages that reached the provider, as (sender, recipient, body), oldest first.
    arrived: Callable[[], list[tuple[str, str, str]]]
    #: Within the block, the next send fails this way (a key of FAILURES).
    failing: Callable[[str], AbstractAsyncContextManager[None]]


def _in_memory() -> MessengerUnderTest:
    messenger = InMemoryOutboundMessenger()

    @asynccontextmanager
    async def failing(kind: str) -> AsyncIterator[None]:
        messenger.fail_next(FAILURES[kind])
        yield

    return MessengerUnderTest(messenger, lambda: [tuple(m) for m in messenger.sent], failing)


@pytest.fixture(params=["memory", "twilio"])
async def under_test(request: pytest.FixtureRequest) -> AsyncIterator[MessengerUnderTest]:
    if request.param == "memory":
        yield _in_memory()
        return
    statuses = {"rate limited": 429, "provider down": 503, "refused number": 400}
    async with running_twilio_messages() as twilio, tcp_proxy("127.0.0.1", twilio.port) as proxy:
        account = TwilioAccount(ACCOUNT_SID, "auth-token", f"http://127.0.0.1:{proxy.port}")
        messenger = TwilioOutboundMessenger(account)

        @asynccontextmanager
        async def failing(kind: str) -> AsyncIterator[None]:
            if kind == "unreachable":
                await proxy.cut()
                yield
                await proxy.restore()
            else:
                twilio.fail_next(statuses.get(kind, 401))
                yield

        def arrived() -> list[tuple[str, str, str]]:
            return [(r.form["From"], r.form["To"], r.form["Body"]) for r in twilio.accepted]

        yield MessengerUnderTest(messenger, arrived, failing)
        await messenger.aclose()


async def test_a_sent_message_arrives_from_the_sender_to_the_recipient_with_its_body(
    under_test: MessengerUnderTest,
) -> None:
    await under_test.messenger.send(OURS, THEIRS, BODY)

    assert under_test.arrived() == [(OURS, THEIRS, BODY)]


async def test_messages_arrive_whole_and_in_the_order_sent(
    under_test: MessengerUnderTest,
) -> None:
    parts = ["x" * 1600, "y" * 1600, "the end"]  # WhatsApp's longest part, twice
    for part in parts:
        await under_test.messenger.send(OURS, THEIRS, part)

    assert under_test.arrived() == [(OURS, THEIRS, part) for part in parts]


@pytest.mark.parametrize(("kind", "retryable"), FAILURES.items(), ids=list(FAILURES))
async def test_a_failed_send_says_whether_a_retry_may_help_and_never_quotes_the_body(
    under_test: MessengerUnderTest, kind: str, retryable: bool
) -> None:
    async with under_test.failing(kind):
        with pytest.raises(MessageNotSent) as failure:
            await under_test.messenger.send(OURS, THEIRS, BODY)

    assert failure.value.retryable is retryable
    assert str(failure.value)
    assert under_test.arrived() == []
    for error in _chain(failure.value):
        assert "the body" not in str(error) and "the body" not in repr(error.args)


async def test_a_failure_touches_only_its_own_send(under_test: MessengerUnderTest) -> None:
    async with under_test.failing("provider down"):
        with pytest.raises(MessageNotSent):
            await under_test.messenger.send(OURS, THEIRS, "lost")

    await under_test.messenger.send(OURS, THEIRS, BODY)

    assert under_test.arrived() == [(OURS, THEIRS, BODY)]


def _chain(error: BaseException) -> list[BaseException]:
    """The error and every error it was raised from (what a log with a traceback shows)."""
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain
