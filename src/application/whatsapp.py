"""Conversations over WhatsApp: each sender talks in one chat at a time, continued across messages.

`AnswerWhatsAppMessage` turns one inbound message into the text to send back, through the same use
cases as every other transport (`StartChat`, `SendMessage`, `EndChat`). The sender is the user;
their current chat is kept by the `WhatsAppDirectory`, whose store guarantees one per sender.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass

from chatservice.application.busy import wait_while_busy
from chatservice.application.chats import DeleteChat, EndChat, StartChat
from chatservice.application.clock import Clock, utc_now
from chatservice.application.policy import ChatPolicy
from chatservice.application.ports import WhatsAppDirectory
from chatservice.application.turn_events import run_to_completion
from chatservice.application.turns import SendMessage
from chatservice.domain.chat import validate_idempotency_key, validate_user_id
from chatservice.domain.errors import (
    BudgetExhausted,
    ChatEnded,
    ChatNotFound,
    ChatServiceError,
    InvalidInput,
    MessageTooLong,
)

log = logging.getLogger(__name__)

#: The command that ends the sender's chat and starts another.
NEW_CHAT_COMMAND = "/new"
#: The longest message body WhatsApp (through Twilio) takes, in UTF-16 code units.
MAX_PART_CHARS = 1600

NEW_CHAT_STARTED = "Started a new conversation. What would you like to talk about?"
TEXT_ONLY = "I can only read text messages for now. Please send your message as text."
TOO_LONG = "That message is too long for me. Please send a shorter one."
APOLOGY = "Sorry, I could not answer that just now. Please try again in a moment."
#: A budget lasts a day or a month: "in a moment" would mislead.
BUDGET_SPENT = "Sorry, the usage limit has been reached, so I cannot answer until it renews."

#: How often a message looks whether the sender's previous one has been answered: soon at first,
#: then about once a second (a turn takes seconds).
BUSY_PAUSES = (0.1, 0.2, 0.5, 1.0)


@dataclass(frozen=True)
class InboundMessage:
    """One message a person sent us. `sender` is the user; `recipient` is our own address."""

    message_sid: str
    sender: str
    recipient: str
    body: str


class AnswerWhatsAppMessage:
    def __init__(
        self,
        directory: WhatsAppDirectory,
        start_chat: StartChat,
        send_message: SendMessage,
        end_chat: EndChat,
        delete_chat: DeleteChat,
        policy: ChatPolicy,
        clock: Clock = utc_now,
        busy_pauses: Sequence[float] = BUSY_PAUSES,
    ) -> None:
        self._directory = directory
        self._start_chat = start_chat
        self._send_message = send_message
        self._end_chat = end_chat
        self._delete_chat = delete_chat
        self._policy = policy
        self._clock = clock
        self._busy_pauses = busy_pauses

    @staticmethod
    def check(message: InboundMessage) -> None:
        """Raise `InvalidInput` unless the sender is a valid user id and the sid a valid key."""
        validate_user_id(message.sender)
        validate_idempotency_key(message.message_sid)
        if not message.recipient:
            raise InvalidInput("the message names no recipient (To)")

    async def __call__(self, message: InboundMessage) -> str | None:
        """The text to send back, or `None` for a message already taken (a redelivery).

        Only taking the message can fail (`InvalidInput`, `StorageUnavailable`), and then nothing
        was recorded, so the sender's side may deliver it again. Once taken, a message always
        gets an answer: the model's reply, a confirmation, or a short apology when the turn
        failed (which stores nothing of the turn).
        """
        self.check(message)
        if not await self._directory.take_message(
            message.message_sid, message.sender, self._clock()
        ):
            return None
        body = message.body.strip()
        try:
            if not body:
                return TEXT_ONLY
            if body.lower() == NEW_CHAT_COMMAND:
                await self._start_over(message.sender)
                return NEW_CHAT_STARTED
            return await self._reply(message.sender, message.body, message.message_sid)
        except (MessageTooLong, InvalidInput):
            return TOO_LONG
        except BudgetExhausted:
            return BUDGET_SPENT
        except ChatServiceError as error:
            log.warning("a WhatsApp message got an apology: %s", error.code)
            return APOLOGY
        except Exception:
            log.exception("a WhatsApp message got an apology after an unexpected error")
            return APOLOGY

    async def _reply(self, sender: str, content: str, message_sid: str) -> str:
        chat_id = await self._directory.current_chat(sender)
        if chat_id is None:
            chat_id = await self._open_chat(sender, replacing=None)
        try:
            return await self._turn(sender, chat_id, content, message_sid)
        except (ChatEnded, ChatNotFound):
            # The chat was ended or deleted through another interface: carry on in a new one.
            chat_id = await self._open_chat(sender, replacing=chat_id)
            return await self._turn(sender, chat_id, content, message_sid)

    async def _start_over(self, sender: str) -> None:
        old = await self._directory.current_chat(sender)
        new = await self._open_chat(sender, replacing=old)
        if old is not None and new != old:
            with suppress(ChatNotFound):
                await self._end_chat(sender, old)

    async def _open_chat(self, sender: str, replacing: str | None) -> str:
        """Start a chat and make it the sender's current one, unless another message of theirs
        did so first: then that one is theirs, and the chat started here is deleted unused."""
        chat = (await self._start_chat(sender)).chat
        current = await self._directory.switch_chat(sender, replacing, chat.id, self._clock())
        if current != chat.id:
            await self._delete_chat(sender, chat.id)
        return current

    async def _turn(self, sender: str, chat_id: str, content: str, message_sid: str) -> str:
        """Run the turn keyed by the message sid; while the sender's previous message is still
        being answered, wait for it rather than refuse (people send several messages in a row)."""

        async def answer() -> str:
            events = self._send_message(
                sender, chat_id, content, idempotency_key=message_sid, deltas=False
            )
            return (await run_to_completion(events)).reply.content

        return await wait_while_busy(answer, self._policy.claim_ttl_seconds, self._busy_pauses)


def split_reply(text: str, limit: int = MAX_PART_CHARS) -> list[str]:
    """`text` in parts of at most `limit` UTF-16 code units (how Twilio counts), in order, cut
    at the last whitespace that fits; a word longer than a part is cut where the part is full."""
    parts: list[str] = []
    rest = text.strip()
    while _utf16_length(rest) > limit:
        fits = _longest_fitting_prefix(rest, limit)
        cut = next((i for i in range(fits, 0, -1) if rest[i].isspace()), fits)
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        parts.append(rest)
    return parts


def _utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _longest_fitting_prefix(text: str, limit: int) -> int:
    """How many characters of `text` fit in `limit` UTF-16 code units (at least one)."""
    used = 0
    for index, char in enumerate(text):
        used += 2 if ord(char) > 0xFFFF else 1
        if used > limit:
            return max(index, 1)
    return len(text)
