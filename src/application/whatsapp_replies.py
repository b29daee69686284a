"""Getting a WhatsApp answer back to its sender: in the webhook's response when it is ready in
time, otherwise through the messenger when it is.

Twilio waits at most 15 s for a webhook's response. The answer is worked out in background work
that belongs to the service (`BackgroundWork`); the webhook waits for it up to `reply_timeout`.
Whichever side is still there when the answer is ready sends it: the webhook (as its response) or
the background work (through the `OutboundMessenger`, retrying a failed send with backoff). The
hand-over happens without an `await` in between, so an answer is sent exactly once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from chatservice.application.background import BackgroundWork
from chatservice.application.ports import MessageNotSent, OutboundMessenger
from chatservice.application.whatsapp import AnswerWhatsAppMessage, InboundMessage, split_reply

log = logging.getLogger(__name__)

#: Pauses before the second, third and fourth attempt of a failed send.
SEND_RETRY_DELAYS = (1.0, 4.0, 15.0)


class DeliverReply:
    """Send an answer through the messenger, split into parts WhatsApp takes, in order."""

    def __init__(
        self,
        messenger: OutboundMessenger,
        retry_delays: Sequence[float] = SEND_RETRY_DELAYS,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._messenger = messenger
        self._retry_delays = tuple(retry_delays)
        self._sleep = sleep

    async def __call__(self, sender: str, recipient: str, text: str) -> bool:
        """Whether every part went out. A part that cannot be sent (after the retries, or at
        once when retrying cannot help) stops the rest, which would read out of context."""
        parts = split_reply(text)
        for number, part in enumerate(parts, 1):
            if not await self._send(sender, recipient, part):
                log.error("a WhatsApp answer was not delivered: part %d of %d", number, len(parts))
                return False
        return True

    async def _send(self, sender: str, recipient: str, part: str) -> bool:
        for attempt, delay in enumerate((*self._retry_delays, None), 1):
            try:
                await self._messenger.send(sender, recipient, part)
                return True
            except MessageNotSent as failure:
                log.warning("sending a WhatsApp message failed (attempt %d): %s", attempt, failure)
                if not failure.retryable or delay is None:
                    return False
            await self._sleep(delay)
        return False


@dataclass
class _Handover:
    """Between the webhook waiting for an answer and the background work producing it."""

    ready: asyncio.Event = field(default_factory=asyncio.Event)
    answer: str | None = None
    error: Exception | None = None
    #: Set once the webhook has stopped waiting: the answer then goes out through the messenger.
    webhook_gone: bool = False


class ReplyToWhatsApp:
    def __init__(
        self,
        answer: AnswerWhatsAppMessage,
        deliver: DeliverReply,
        work: BackgroundWork,
        reply_timeout: float,
    ) -> None:
        self._answer = answer
        self._deliver = deliver
        self._work = work
        self._reply_timeout = reply_timeout

    async def __call__(self, message: InboundMessage) -> list[str]:
        """The parts of the answer for the webhook's response: all of them when the answer is
        ready within the reply timeout, else none, and the answer follows through the messenger.

        A redelivered message gets none and runs nothing. Raises `InvalidInput` for a message
        that names no valid sender or sid, and `StorageUnavailable` when it could not be taken
        (nothing recorded: Twilio may deliver it again).
        """
        self._answer.check(message)
        handover = _Handover()
        self._work.start(
            self._answer_in_background(message, handover),
            name=f"whatsapp-{message.message_sid}",
        )
        try:
            async with asyncio.timeout(self._reply_timeout):
                await handover.ready.wait()
        except TimeoutError:
            pass
        except BaseException:
            # The webhook's caller went away; the answer still goes out, through the messenger.
            handover.webhook_gone = True
            if handover.answer:
                self._work.start(self._send_later(message, handover.answer))
            raise
        if not handover.ready.is_set():
            handover.webhook_gone = True
            return []
        if handover.error is not None:
            raise handover.error
        return split_reply(handover.answer) if handover.answer else []

    async def _answer_in_background(self, message: InboundMessage, handover: _Handover) -> None:
        try:
            answer = await self._answer(message)
        except Exception as error:
            if handover.webhook_gone:
                raise
            handover.error = error
            handover.ready.set()
            return
        if not handover.webhook_gone:
            handover.answer = answer
            handover.ready.set()
        elif answer:
            await self._send_later(message, answer)

    async def _send_later(self, message: InboundMessage, answer: str) -> None:
        # Our address (the message's recipient) sends the answer back to its sender.
        await self._deliver(message.recipient, message.sender, answer)
