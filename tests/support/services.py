"""A service wired over the in-memory repository and the fake model, for use-case tests."""

from __future__ import annotations

from dataclasses import dataclass

from chatservice.adapters.fake_gateway import FakeChatGateway
from chatservice.adapters.memory_repository import InMemoryChatRepository
from chatservice.adapters.tiktoken_counter import TiktokenTokenCounter
from chatservice.application.background import BackgroundWork
from chatservice.application.chats import StartChat
from chatservice.application.policy import ChatPolicy
from chatservice.application.ports import TurnClaim
from chatservice.application.turns import SendMessage, TakeTurn
from chatservice.domain.chat import Chat
from chatservice.domain.errors import TurnInProgress
from chatservice.domain.models import ModelRegistry
from chatservice.entrypoints.container import Container
from chatservice.entrypoints.settings import Settings

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


@dataclass
class Service:
    repository: WatchedRepository
    gateway: FakeChatGateway
    start_chat: StartChat
    send_message: SendMessage
    work: BackgroundWork
    policy: ChatPolicy


def build_service(context_window: int | None = None, **policy: object) -> Service:
    repository = WatchedRepository()
    gateway = FakeChatGateway(COUNTER, chunk_delay_seconds=0)
    registry = ModelRegistry(context_window_override=context_window)
    chat_policy = Container(settings=Settings(**policy)).policy()
    work = BackgroundWork()
    take_turn = TakeTurn(repository, gateway, COUNTER, registry, chat_policy, work)
    return Service(
        repository,
        gateway,
        StartChat(repository, COUNTER, registry, chat_policy),
        SendMessage(take_turn, chat_policy),
        work,
        chat_policy,
    )
