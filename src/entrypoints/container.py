"""The composition root: the only place that builds adapters and wires them into use cases."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dependency_injector import containers, providers

from chatservice.adapters.fake_gateway import FakeChatGateway
from chatservice.adapters.memory_rate_limiter import MemoryTurnRateLimiter
from chatservice.adapters.prometheus_metrics import (
    PrometheusLimitStoreObserver,
    PrometheusTurnObserver,
)
from chatservice.adapters.tiktoken_counter import TiktokenTokenCounter
from chatservice.application.background import BackgroundWork
from chatservice.application.chats import (
    CheckReadiness,
    DeleteChat,
    EndChat,
    GetChat,
    ListChats,
    StartChat,
)
from chatservice.application.clock import utc_now
from chatservice.application.first_turn import StartChatWithMessage
from chatservice.application.observed import ObservedChatGateway, ObservedTurn
from chatservice.application.policy import ChatPolicy
from chatservice.application.rate_limit import LocalWhileSharedUnreachable
from chatservice.application.turns import SendMessage, TakeTurn
from chatservice.application.whatsapp import AnswerWhatsAppMessage
from chatservice.application.whatsapp_replies import DeliverReply, ReplyToWhatsApp
from chatservice.domain.models import ModelRegistry
from chatservice.entrypoints.auth import TokenAuthenticator
from chatservice.entrypoints.settings import Settings
from chatservice.entrypoints.twilio_signature import TwilioSignature

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from chatservice.adapters.openai_gateway import OpenAIChatGateway
    from chatservice.adapters.redis_rate_limiter import RedisTurnRateLimiter
    from chatservice.adapters.sqlalchemy.migrations import AlembicMigrations
    from chatservice.adapters.sqlalchemy.repository import SqlAlchemyChatRepository
    from chatservice.adapters.sqlalchemy.whatsapp_directory import SqlAlchemyWhatsAppDirectory
    from chatservice.adapters.twilio_sender import TwilioOutboundMessenger


def _seconds(milliseconds: int) -> float:
    return milliseconds / 1000


# Slow imports happen where their adapter is built, so that only a process that uses one pays for
# importing it: the OpenAI SDK takes longer to import than the rest of the service, and
# `chatservice tokens` needs neither SQLAlchemy nor alembic.


def _engine(settings: Settings) -> AsyncEngine:
    from chatservice.adapters.sqlalchemy.engine import create_engine

    return create_engine(
        settings.database_url,
        connect_timeout=settings.database_connect_timeout,
        read_timeout=settings.database_read_timeout,
    )


def _repository(engine: AsyncEngine, settings: Settings) -> SqlAlchemyChatRepository:
    from chatservice.adapters.sqlalchemy.repository import SqlAlchemyChatRepository

    return SqlAlchemyChatRepository(engine, settings.window_cache_bytes)


def _whatsapp_directory(engine: AsyncEngine) -> SqlAlchemyWhatsAppDirectory:
    from chatservice.adapters.sqlalchemy.whatsapp_directory import SqlAlchemyWhatsAppDirectory

    return SqlAlchemyWhatsAppDirectory(engine)


def _migrations(settings: Settings) -> AlembicMigrations:
    from chatservice.adapters.sqlalchemy.migrations import AlembicMigrations

    return AlembicMigrations(settings.database_url)


def _openai_gateway(settings: Settings) -> OpenAIChatGateway:
    from chatservice.adapters.openai_gateway import OpenAIChatGateway, OpenAIConfig

    return OpenAIChatGateway(
        OpenAIConfig(
            api_key=settings.openai_api_key,
            base_url=settings.openai_base_url,
            organization=settings.openai_organization,
            project=settings.openai_project,
            connect_timeout=settings.openai_connect_timeout,
            idle_timeout=settings.openai_idle_timeout,
            turn_timeout=settings.openai_turn_timeout,
            max_retries=settings.openai_max_retries,
        )
    )


def _redis_rate_limiter(settings: Settings) -> RedisTurnRateLimiter:
    from chatservice.adapters.redis_rate_limiter import RedisTurnRateLimiter

    assert settings.redis_url  # only built when `redis_url` is set
    return RedisTurnRateLimiter(settings.redis_url, settings.turns_per_minute_per_user)


def _twilio_messenger(settings: Settings) -> TwilioOutboundMessenger:
    from chatservice.adapters.twilio_sender import TwilioAccount, TwilioOutboundMessenger

    # Only built when `settings.twilio_configured`, so both credentials are set.
    assert settings.twilio_account_sid and settings.twilio_auth_token
    return TwilioOutboundMessenger(
        TwilioAccount(
            account_sid=settings.twilio_account_sid,
            auth_token=settings.twilio_auth_token,
            api_base_url=settings.twilio_api_base_url,
        )
    )


class Container(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)
    # The time the use cases stamp what they store with and judge claims by.
    clock = providers.Object(utc_now)

    # A Singleton rather than a Resource: an async Resource would make every provider that
    # depends on it async too. The process that owns the container disposes the engine.
    engine = providers.Singleton(_engine, settings)
    repository = providers.Singleton(_repository, engine, settings)
    # The schema: `chatservice migrate`, and `serve` before it starts.
    migrations = providers.Singleton(_migrations, settings)
    counter = providers.Singleton(TiktokenTokenCounter)
    registry = providers.Singleton(
        ModelRegistry,
        custom=settings.provided.custom_models,
        context_window_override=settings.provided.context_window,
    )
    gateway = providers.Selector(
        settings.provided.gateway,
        fake=providers.Singleton(
            FakeChatGateway,
            counter,
            chunk_delay_seconds=providers.Callable(_seconds, settings.provided.fake_chunk_delay_ms),
        ),
        openai=providers.Singleton(_openai_gateway, settings),
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

    start_chat = providers.Singleton(StartChat, repository, counter, registry, policy, clock=clock)
    local_rate_limiter = providers.Singleton(
        MemoryTurnRateLimiter, settings.provided.turns_per_minute_per_user
    )
    shared_rate_limiter = providers.Singleton(_redis_rate_limiter, settings)
    # Redis's count while it answers, this process's own while it does not (docs/scaling.md).
    rate_limiter = providers.Selector(
        settings.provided.turn_limit_store,
        process=local_rate_limiter,
        redis=providers.Singleton(
            LocalWhileSharedUnreachable,
            shared_rate_limiter,
            local_rate_limiter,
            providers.Singleton(PrometheusLimitStoreObserver),
        ),
    )
    # The tasks the service owns beyond the code that started them (WhatsApp answers, cleanups
    # under cancellation, HTTP turns); drained on shutdown.
    background_work = providers.Singleton(BackgroundWork)
    # Metrics wrap the turn and the model's gateway; the use case knows nothing of them.
    turn_observer = providers.Singleton(PrometheusTurnObserver)
    observed_gateway = providers.Singleton(ObservedChatGateway, gateway, turn_observer)
    take_turn = providers.Singleton(
        ObservedTurn,
        providers.Singleton(
            TakeTurn,
            repository,
            observed_gateway,
            counter,
            registry,
            policy,
            background_work,
            clock=clock,
        ),
        turn_observer,
    )
    send_message = providers.Singleton(SendMessage, take_turn, policy, rate_limiter)
    list_chats = providers.Singleton(ListChats, repository)
    get_chat = providers.Singleton(GetChat, repository)
    end_chat = providers.Singleton(EndChat, repository, clock=clock)
    delete_chat = providers.Singleton(DeleteChat, repository)
    check_readiness = providers.Singleton(CheckReadiness, repository)
    start_chat_with_message = providers.Singleton(
        StartChatWithMessage, start_chat, send_message, delete_chat, background_work
    )

    # WhatsApp through Twilio (docs/whatsapp.md): used only when `settings.twilio_configured`.
    twilio_signature = providers.Singleton(
        TwilioSignature, settings.provided.twilio_auth_token, settings.provided.public_base_url
    )
    messenger = providers.Singleton(_twilio_messenger, settings)
    whatsapp_directory = providers.Singleton(_whatsapp_directory, engine)
    answer_whatsapp_message = providers.Singleton(
        AnswerWhatsAppMessage,
        whatsapp_directory,
        start_chat,
        send_message,
        end_chat,
        delete_chat,
        policy,
        clock=clock,
    )
    deliver_reply = providers.Singleton(DeliverReply, messenger)
    reply_to_whatsapp = providers.Singleton(
        ReplyToWhatsApp,
        answer_whatsapp_message,
        deliver_reply,
        background_work,
        reply_timeout=settings.provided.twilio_reply_timeout,
    )


async def close_resources(container: Container) -> None:
    """Release what the container opened: the database pool and the HTTP clients (the model
    provider's, Twilio's)."""
    if container.settings().gateway == "openai":
        await container.gateway().aclose()
    if container.settings().twilio_configured:
        await container.messenger().aclose()
    if container.settings().turn_limit_store == "redis":
        await container.shared_rate_limiter().aclose()
    await container.engine().dispose()


def build_container(settings: Settings, **overrides: providers.Provider[object]) -> Container:
    """The container for `settings`; `overrides` replace providers by name (a test's clock)."""
    container = Container(settings=settings, **overrides)
    # Refuse at start-up a configuration that could never make a chat (unknown model, reserve
    # too large for the window), instead of failing at the first request.
    container.start_chat().check_defaults()
    return container
