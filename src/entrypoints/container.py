"""The composition root: the only place that builds adapters and wires them into use cases."""

from __future__ import annotations

from dependency_injector import containers, providers

from chatservice.adapters.fake_gateway import FakeChatGateway
from chatservice.adapters.openai_gateway import OpenAIChatGateway, OpenAIConfig
from chatservice.adapters.sqlalchemy.engine import create_engine
from chatservice.adapters.sqlalchemy.repository import SqlAlchemyChatRepository
from chatservice.adapters.tiktoken_counter import TiktokenTokenCounter
from chatservice.application.chats import (
    ChatPolicy,
    CheckReadiness,
    DeleteChat,
    EndChat,
    GetChat,
    ListChats,
    StartChat,
)
from chatservice.application.turns import SendMessage, StartChatWithMessage
from chatservice.domain.models import ModelRegistry
from chatservice.entrypoints.auth import TokenAuthenticator
from chatservice.entrypoints.settings import Settings


def _seconds(milliseconds: int) -> float:
    return milliseconds / 1000


class Container(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)

    # A Singleton rather than a Resource: an async Resource would make every provider that
    # depends on it async too. The process that owns the container disposes the engine.
    engine = providers.Singleton(create_engine, settings.provided.database_url)
    repository = providers.Singleton(SqlAlchemyChatRepository, engine)
    counter = providers.Singleton(TiktokenTokenCounter)
    registry = providers.Singleton(
        ModelRegistry,
        custom=settings.provided.models,
        context_window_override=settings.provided.context_window,
    )
    gateway = providers.Selector(
        settings.provided.gateway,
        fake=providers.Singleton(
            FakeChatGateway,
            counter,
            chunk_delay_seconds=providers.Callable(_seconds, settings.provided.fake_chunk_delay_ms),
        ),
        openai=providers.Singleton(
            OpenAIChatGateway,
            providers.Factory(
                OpenAIConfig,
                api_key=settings.provided.openai_api_key,
                base_url=settings.provided.openai_base_url,
                organization=settings.provided.openai_organization,
                project=settings.provided.openai_project,
                connect_timeout=settings.provided.openai_connect_timeout,
                idle_timeout=settings.provided.openai_idle_timeout,
                turn_timeout=settings.provided.openai_turn_timeout,
                max_retries=settings.provided.openai_max_retries,
            ),
        ),
    )
    authenticator = providers.Singleton(TokenAuthenticator, settings.provided.auth_tokens)
    policy = providers.Singleton(
        ChatPolicy,
        model=settings.provided.model,
        system_message=settings.provided.system_message,
        max_completion_tokens=settings.provided.max_completion_tokens,
        window_margin=settings.provided.window_margin,
        max_message_chars=settings.provided.max_message_chars,
        claim_ttl_seconds=settings.provided.claim_ttl_seconds,
    )

    start_chat = providers.Singleton(StartChat, repository, counter, registry, policy)
    send_message = providers.Singleton(SendMessage, repository, gateway, counter, registry, policy)
    list_chats = providers.Singleton(ListChats, repository)
    get_chat = providers.Singleton(GetChat, repository)
    end_chat = providers.Singleton(EndChat, repository)
    delete_chat = providers.Singleton(DeleteChat, repository)
    check_readiness = providers.Singleton(CheckReadiness, repository)
    start_chat_with_message = providers.Singleton(
        StartChatWithMessage, start_chat, send_message, delete_chat
    )


async def close_resources(container: Container) -> None:
    """Release what the container opened: the database pool and the provider's HTTP client."""
    gateway = container.gateway()
    if isinstance(gateway, OpenAIChatGateway):
        await gateway.aclose()
    await container.engine().dispose()


def build_container(settings: Settings) -> Container:
    container = Container(settings=settings)
    # Refuse at start-up a configuration that could never make a chat (unknown model, reserve
    # too large for the window), instead of failing at the first request.
    container.start_chat().check_defaults()
    return container
