"""WhatsApp use cases wired over the in-memory stores and messenger and the fake model."""

from __future__ import annotations

from dataclasses import dataclass

from chatservice.adapters.memory_messenger import InMemoryOutboundMessenger
from chatservice.adapters.memory_whatsapp_directory import InMemoryWhatsAppDirectory
from chatservice.application.background import BackgroundWork
from chatservice.application.chats import DeleteChat, EndChat
from chatservice.application.whatsapp import AnswerWhatsAppMessage, InboundMessage
from chatservice.application.whatsapp_replies import DeliverReply, ReplyToWhatsApp
from chatservice.domain.chat import ChatStatus
from support.services import Service, build_service

SENDER = "whatsapp:+5511999990000"
OURS = "whatsapp:+14155238886"


@dataclass
class WhatsAppService:
    service: Service
    directory: InMemoryWhatsAppDirectory
    answer: AnswerWhatsAppMessage
    messenger: InMemoryOutboundMessenger
    work: BackgroundWork

    def reply(self, timeout: float) -> ReplyToWhatsApp:
        deliver = DeliverReply(self.messenger, retry_delays=(0, 0, 0))
        return ReplyToWhatsApp(self.answer, deliver, self.work, reply_timeout=timeout)

    async def chats(self, sender: str = SENDER) -> list[ChatStatus]:
        listed = await self.service.repository.list_chats(sender, 100, None)
        return [c.status for c in sorted(listed, key=lambda c: c.created_at)]


def build_whatsapp() -> WhatsAppService:
    service = build_service()
    directory = InMemoryWhatsAppDirectory()
    answer = AnswerWhatsAppMessage(
        directory,
        service.start_chat,
        service.send_message,
        EndChat(service.repository),
        DeleteChat(service.repository),
        service.policy,
    )
    return WhatsAppService(service, directory, answer, InMemoryOutboundMessenger(), service.work)


def message(body: str, sid: str = "SM1", media: int = 0, sender: str = SENDER) -> InboundMessage:
    return InboundMessage(sid, sender, OURS, body, media)
