"""How the container builds each adapter from the settings (`container.py` wires them).

Slow imports happen here, inside the builder of the adapter that needs them, so that only a
process that builds one pays for importing it: each provider's SDK takes longer to import than the
rest of the service, and `chatservice tokens` needs neither SQLAlchemy nor alembic. What a builder
opens it records with the container's `OpenResources`, so that a process closes on exit only what
it built.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from chatservice.adapters.fake_gateway import FakeChatGateway
from chatservice.application.ports import ChatGateway, TokenCounter
from chatservice.entrypoints.open_resources import OpenResources
from chatservice.entrypoints.settings import Settings
from chatservice.entrypoints.settings.config_tables import ProviderTable

if TYPE_CHECKING:
    import coredis
    from sqlalchemy.ext.asyncio import AsyncEngine

    from chatservice.adapters.anthropic_gateway import AnthropicChatGateway
    from chatservice.adapters.openai_gateway import OpenAIChatGateway
    from chatservice.adapters.redis_rate_limiter import RedisTurnRateLimiter
    from chatservice.adapters.redis_turn_events import RedisTurnEventLog
    from chatservice.adapters.sqlalchemy.leases import SqlAlchemyLeases
    from chatservice.adapters.sqlalchemy.migrations import AlembicMigrations
    from chatservice.adapters.sqlalchemy.repository import SqlAlchemyChatRepository
    from chatservice.adapters.sqlalchemy.response_store import SqlAlchemyResponseStore
    from chatservice.adapters.sqlalchemy.whatsapp_directory import SqlAlchemyWhatsAppDirectory
    from chatservice.adapters.twilio_sender import TwilioOutboundMessenger


def engine(settings: Settings, open_resources: OpenResources) -> AsyncEngine:
    from chatservice.adapters.sqlalchemy.engine import create_engine

    async_engine = create_engine(
        settings.database_url,
        connect_timeout=settings.database_connect_timeout,
        read_timeout=settings.database_read_timeout,
    )
    open_resources.opened(async_engine.dispose)
    return async_engine


def repository(engine: AsyncEngine, settings: Settings) -> SqlAlchemyChatRepository:
    from chatservice.adapters.sqlalchemy.repository import SqlAlchemyChatRepository

    return SqlAlchemyChatRepository(engine, settings.window_cache_bytes)


def whatsapp_directory(engine: AsyncEngine) -> SqlAlchemyWhatsAppDirectory:
    from chatservice.adapters.sqlalchemy.whatsapp_directory import SqlAlchemyWhatsAppDirectory

    return SqlAlchemyWhatsAppDirectory(engine)


def leases(engine: AsyncEngine) -> SqlAlchemyLeases:
    from chatservice.adapters.sqlalchemy.leases import SqlAlchemyLeases

    return SqlAlchemyLeases(engine)


def response_store(engine: AsyncEngine) -> SqlAlchemyResponseStore:
    from chatservice.adapters.sqlalchemy.response_store import SqlAlchemyResponseStore

    return SqlAlchemyResponseStore(engine)


def migrations(settings: Settings) -> AlembicMigrations:
    from chatservice.adapters.sqlalchemy.migrations import AlembicMigrations

    return AlembicMigrations(settings.database_url)


def provider_gateway(
    table: ProviderTable, counter: TokenCounter, open_resources: OpenResources
) -> ChatGateway:
    """The gateway of one provider, of its table's kind."""
    gateway: OpenAIChatGateway | AnthropicChatGateway
    if table.kind == "openai":
        gateway = _openai_gateway(table)
    elif table.kind == "anthropic":
        gateway = _anthropic_gateway(table)
    else:
        return FakeChatGateway(counter, chunk_delay_seconds=table.chunk_delay_ms / 1000)
    open_resources.opened(gateway.aclose)  # its HTTP client
    return gateway


def _openai_gateway(table: ProviderTable) -> OpenAIChatGateway:
    from chatservice.adapters.openai_gateway import OpenAIChatGateway, OpenAIConfig

    return OpenAIChatGateway(
        OpenAIConfig(
            api_key=table.api_key,
            base_url=table.base_url,
            organization=table.organization,
            project=table.project,
            connect_timeout=table.connect_timeout,
            idle_timeout=table.idle_timeout,
            turn_timeout=table.turn_timeout,
            max_retries=table.max_retries,
        )
    )


def _anthropic_gateway(table: ProviderTable) -> AnthropicChatGateway:
    from chatservice.adapters.anthropic_gateway import AnthropicChatGateway, AnthropicConfig

    # Unset, the adapter's own default: Anthropic's endpoint.
    endpoint = {"base_url": table.base_url} if table.base_url else {}
    return AnthropicChatGateway(
        AnthropicConfig(
            **endpoint,
            api_key=table.api_key,
            connect_timeout=table.connect_timeout,
            idle_timeout=table.idle_timeout,
            turn_timeout=table.turn_timeout,
            max_retries=table.max_retries,
        )
    )


def sole_gateway(
    settings: Settings, counter: TokenCounter, open_resources: OpenResources
) -> ChatGateway:
    """The gateway of the one provider of the Part I shorthand (`gateway`)."""
    return provider_gateway(settings.provider_tables[settings.gateway], counter, open_resources)


def gateways(
    settings: Settings,
    counter: TokenCounter,
    sole: Callable[[], ChatGateway],
    open_resources: OpenResources,
) -> dict[str, ChatGateway]:
    """The gateway of each configured provider, by name: `sole` under the shorthand."""
    if settings.sole_provider is not None:
        return {settings.sole_provider: sole()}
    tables = settings.providers.items()
    return {name: provider_gateway(table, counter, open_resources) for name, table in tables}


#: The longest a connection to Redis, or one answer of it, may take: turns wait on Redis, and a
#: Redis slower than this is better treated as unreachable (the turn limit falls back to one per
#: process) than allowed to slow every turn.
_REDIS_TIMEOUT_SECONDS = 1.0


def redis_pool(settings: Settings, open_resources: OpenResources) -> coredis.ConnectionPool:
    """The process's one pool of connections to `redis_url`, for every adapter that uses it."""
    import coredis

    assert settings.redis_url  # only built when `redis_url` is set
    pool = coredis.ConnectionPool.from_url(
        settings.redis_url,
        connect_timeout=_REDIS_TIMEOUT_SECONDS,
        stream_timeout=_REDIS_TIMEOUT_SECONDS,
    )

    async def disconnect() -> None:
        pool.disconnect()

    open_resources.opened(disconnect)
    return pool


def redis_rate_limiter(pool: coredis.ConnectionPool, settings: Settings) -> RedisTurnRateLimiter:
    from chatservice.adapters.redis_rate_limiter import RedisTurnRateLimiter

    assert settings.redis_url  # only built when `redis_url` is set
    return RedisTurnRateLimiter(
        settings.redis_url, pool, settings.turns_per_minute_per_user, settings.redis_key_prefix
    )


def redis_turn_log(
    pool: coredis.ConnectionPool, settings: Settings, open_resources: OpenResources
) -> RedisTurnEventLog:
    from chatservice.adapters.redis_turn_events import RedisTurnEventLog

    turn_log = RedisTurnEventLog(
        pool,
        settings.redis_key_prefix,
        retention_seconds=settings.turn_retention_seconds,
        # A running turn whose replica died is forgotten when its claim would lapse.
        running_ttl_seconds=settings.claim_ttl_seconds,
        # A blocked read must answer within the pool's bound on every answer.
        block_seconds=_REDIS_TIMEOUT_SECONDS / 2,
    )
    open_resources.opened(turn_log.aclose)
    return turn_log


def twilio_messenger(settings: Settings, open_resources: OpenResources) -> TwilioOutboundMessenger:
    from chatservice.adapters.twilio_sender import TwilioAccount, TwilioOutboundMessenger

    # Only built when `settings.twilio_configured`, so both credentials are set.
    assert settings.twilio_account_sid and settings.twilio_auth_token
    messenger = TwilioOutboundMessenger(
        TwilioAccount(
            account_sid=settings.twilio_account_sid,
            auth_token=settings.twilio_auth_token,
            api_base_url=settings.twilio_api_base_url,
        )
    )
    open_resources.opened(messenger.aclose)
    return messenger
