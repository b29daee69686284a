"""A service wired over the in-memory repository and the fake model, for use-case tests."""

from __future__ import annotations

from dataclasses import dataclass

from chatservice.adapters.fake_gateway import FakeChatGateway
from chatservice.adapters.memory_repository import InMemoryChatRepository
from chatservice.adapters.tiktoken_counter import TiktokenTokenCounter
from chatservice.application.chats import StartChat
from chatservice.application.policy import ChatPolicy
from chatservice.application.turns import SendMessage
from chatservice.domain.models import ModelRegistry

COUNTER = TiktokenTokenCounter()


@dataclass
class Service:
    repository: InMemoryChatRepository
    gateway: FakeChatGateway
    start_chat: StartChat
    send_message: SendMessage


def build_service(context_window: int | None = None, **policy: object) -> Service:
    repository = InMemoryChatRepository()
    gateway = FakeChatGateway(COUNTER)
    registry = ModelRegistry(context_window_override=context_window)
    chat_policy = ChatPolicy(**policy)  # type: ignore[arg-type]
    return Service(
        repository,
        gateway,
        StartChat(repository, COUNTER, registry, chat_policy),
        SendMessage(repository, gateway, COUNTER, registry, chat_policy),
    )
