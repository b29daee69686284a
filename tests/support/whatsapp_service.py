"""The WhatsApp use cases over the in-memory stores and messenger and the fake model, as the
container wires them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dependency_injector import providers

from chatservice.adapters.memory_messenger import InMemoryOutboundMessenger
from chatservice.adapters.memory_whatsapp_directory import InMemoryWhatsAppDirectory
from chatservice.application.background import BackgroundWork
from chatservice.application.whatsapp import AnswerWhatsAppMessage, InboundMessage
from chatservice.application.whatsapp_replies import DeliverReply, ReplyToWhatsApp
from chatservice.domain.chat import ChatStatus
from support.containers import provided
from support.services import Service, build_service

SENDER = "whatsapp:+5511999990000"
OURS = "whatsapp:+14155238886"


@dataclass(frozen=True)
class WhatsAppService:
    """The WhatsApp use cases of one in-memory container, and what they store and send."""

    service: Service

    @property
    def directory(self) -> InMemoryWhatsAppDirectory:
        return provided(self.service.container.whatsapp_directory, InMemoryWhatsAppDirectory)

    @property
    def answer(self) -> AnswerWhatsAppMessage:
        return self.service.container.answer_whatsapp_message()

    @property
    def messenger(self) -> InMemoryOutboundMessenger:
        return provided(self.service.container.messenger, InMemoryOutboundMessenger)

    @property
    def work(self) -> BackgroundWork:
        return self.service.work

    def reply(self, timeout: float) -> ReplyToWhatsApp:
        """The webhook's use case, waiting `timeout` for the answer: the tests' own, which the
        settings (under Twilio's 15 s) would refuse. Built once per container."""
        return self.service.container.reply_to_whatsapp(reply_timeout=timeout)

    async def chats(self, sender: str = SENDER) -> list[ChatStatus]:
        listed = await self.service.repository.list_chats(sender, 100, None)
        return [c.status for c in sorted(listed, key=lambda c: c.created_at)]


def build_whatsapp(**settings: Any) -> WhatsAppService:
    service = build_service(**settings)
    # No pause between a reply's send attempts.
    service.container.deliver_reply.override(
        providers.Singleton(DeliverReply, service.container.messenger, retry_delays=(0, 0, 0))
    )
    return WhatsAppService(service)


def message(body: str, sid: str = "SM1", sender: str = SENDER) -> InboundMessage:
    return InboundMessage(sid, sender, OURS, body)
