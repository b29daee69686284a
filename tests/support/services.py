"""The service over the in-memory stores and messenger and the fake model, for use-case tests:
the container of `chatservice serve` with the stores overridden."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dependency_injector import providers

from chatservice.adapters.fake_gateway import FakeChatGateway
from chatservice.adapters.memory_messenger import InMemoryOutboundMessenger
from chatservice.adapters.memory_repository.repository import InMemoryChatRepository
from chatservice.adapters.memory_response_store import InMemoryResponseStore
from chatservice.adapters.memory_whatsapp_directory import InMemoryWhatsAppDirectory
from chatservice.adapters.tiktoken_counter import TiktokenTokenCounter
from chatservice.application.background import BackgroundWork
from chatservice.application.conversation_control import EditMessage, RegenerateReply
from chatservice.application.policy import ChatPolicy
from chatservice.application.ports import TurnClaim
from chatservice.application.turns import SendMessage
from chatservice.domain.chat import Chat
from chatservice.domain.errors import TurnInProgress
from chatservice.entrypoints.container import Container
from support.containers import Overrides, provided, service_container

#: For tests that count tokens themselves.
COUNTER = TiktokenTokenCounter()


class WatchedRepository(InMemoryChatRepository):
    """The in-memory repository, counting the claims it refuses because the chat is busy: a test
    can wait until a second turn has found the chat busy instead of hoping it has."""

    def __init__(self) -> None:
        super().__init__()
        self.refused_claims = 0

    async def claim_turn(self, user_id: str, chat_id: str, claim: TurnClaim) -> Chat:
        try:
            return await super().claim_turn(user_id, chat_id, claim)
        except TurnInProgress:
            self.refused_claims += 1
            raise


def in_memory_container(overrides: Overrides | None = None, **settings: Any) -> Container:
    """The container for these settings, its stores and messenger in memory unless `overrides`
    name other stand-ins."""
    in_memory: dict[str, providers.Provider[Any]] = {
        "repository": providers.Singleton(WatchedRepository),
        "whatsapp_directory": providers.Singleton(InMemoryWhatsAppDirectory),
        "messenger": providers.Singleton(InMemoryOutboundMessenger),
        "response_store": providers.Singleton(InMemoryResponseStore),
    }
    return service_container({**in_memory, **(overrides or {})}, **settings)


@dataclass(frozen=True)
class Service:
    """What a use-case test drives and looks at, from one container. Each is built on first use,
    so a test may override a provider before."""

    container: Container

    @property
    def repository(self) -> WatchedRepository:
        return provided(self.container.repository, WatchedRepository)

    @property
    def gateway(self) -> FakeChatGateway:
        return provided(self.container.gateway, FakeChatGateway)

    async def start_chat(
        self,
        user_id: str,
        *,
        system_message: str | None = None,
        model: str | None = None,
        memory: str | None = None,
    ) -> Chat:
        """A new chat (`StartChat`), as stored: without the window it is shown with."""
        start = self.container.start_chat()
        started = await start(user_id, system_message, model, memory=memory)
        return started.chat

    @property
    def send_message(self) -> SendMessage:
        return self.container.send_message()

    @property
    def regenerate_reply(self) -> RegenerateReply:
        return self.container.regenerate_reply()

    @property
    def edit_message(self) -> EditMessage:
        return self.container.edit_message()

    async def fork_chat(
        self, user_id: str, chat_id: str, message_id: str, idempotency_key: str | None = None
    ) -> Chat:
        """A fork (`ForkChat`), as stored: without the window it is shown with."""
        fork = self.container.fork_chat()
        return (await fork(user_id, chat_id, message_id, idempotency_key)).chat

    @property
    def work(self) -> BackgroundWork:
        return self.container.background_work()

    @property
    def policy(self) -> ChatPolicy:
        return self.container.policy()


def build_service(overrides: Overrides | None = None, **settings: Any) -> Service:
    return Service(in_memory_container(overrides, **settings))
