"""The composition root: the only place that builds adapters (with `builders.py`) and wires them
into use cases."""

from __future__ import annotations

from dependency_injector import containers, providers

from chatservice.adapters.memory_rate_limiter import MemoryTurnRateLimiter
from chatservice.adapters.memory_turn_events import InProcessTurnEventLog
from chatservice.adapters.prometheus_metrics import (
    PrometheusLimitStoreObserver,
    PrometheusPruneObserver,
    PrometheusSummaryObserver,
    PrometheusTurnObserver,
)
from chatservice.adapters.tiktoken_counter import TiktokenTokenCounter
from chatservice.application.admitted_turns import RateLimitedTurn
from chatservice.application.background import BackgroundWork
from chatservice.application.background_turns import (
    CancelTurn,
    GetTurn,
    RunInBackground,
    WatchTurn,
)
from chatservice.application.budgets import TurnBudgets
from chatservice.application.calibration import TokenCalibration
from chatservice.application.chat_window import ChatWindow
from chatservice.application.chats import (
    CheckReadiness,
    DeleteChat,
    EndChat,
    GetChat,
    ListChats,
    StartChat,
)
from chatservice.application.clock import utc_now
from chatservice.application.conversation_control import EditMessage, ForkChat, RegenerateReply
from chatservice.application.conversations import (
    AddConversationItems,
    CreateConversation,
    DeleteConversation,
    GetConversation,
    ListConversationItems,
)
from chatservice.application.erasure import EraseUser
from chatservice.application.exports import ExportUserChats, ImportChat
from chatservice.application.first_turn import StartChatWithMessage
from chatservice.application.observed import ObservedChatGateway, ObservedTurn
from chatservice.application.policy import ChatPolicy
from chatservice.application.prompts import PromptFitter
from chatservice.application.rate_limit import LocalWhileSharedUnreachable
from chatservice.application.responses import CreateResponse
from chatservice.application.retention import PruneExpiredData, RetentionPolicy, RetentionSweeper
from chatservice.application.routing import RoutingChatGateway
from chatservice.application.stored_responses import (
    CancelResponse,
    DeleteResponse,
    GetResponse,
    ListInputItems,
    WatchResponse,
)
from chatservice.application.summaries import (
    FoldErasedIntoSummary,
    SummaryAfterErasure,
    SummaryLimits,
    check_summary_model,
)
from chatservice.application.turns import SendMessage, TakeTurn
from chatservice.application.usage_reports import ReportUsage
from chatservice.application.whatsapp import AnswerWhatsAppMessage
from chatservice.application.whatsapp_replies import DeliverReply, ReplyToWhatsApp
from chatservice.domain.memory import Memory
from chatservice.entrypoints import builders
from chatservice.entrypoints.auth import TokenAuthenticator
from chatservice.entrypoints.open_resources import OpenResources
from chatservice.entrypoints.settings import Settings
from chatservice.entrypoints.twilio_signature import TwilioSignature


class Container(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)
    # The time the use cases stamp what they store with and judge claims by.
    clock = providers.Object(utc_now)
    # What the providers below have opened, for `close_resources`.
    open_resources = providers.Singleton(OpenResources)

    # A Singleton rather than a Resource: an async Resource would make every provider that
    # depends on it async too. The process that owns the container disposes the engine.
    engine = providers.Singleton(builders.engine, settings, open_resources)
    repository = providers.Singleton(builders.repository, engine, settings)
    # The schema: `chatservice migrate`, and `serve` before it starts.
    migrations = providers.Singleton(builders.migrations, settings)
    counter = providers.Singleton(TiktokenTokenCounter)
    registry = providers.Singleton(Settings.model_registry, settings)
    # The one provider that serves every model under the Part I shorthand (no `[providers]`
    # tables), where a test puts its stand-in model.
    gateway = providers.Singleton(builders.sole_gateway, settings, counter, open_resources)
    # Every configured provider's gateway (built with the turn, so only the SDKs of configured
    # providers are imported), and the one a turn talks to: each request to its model's provider.
    gateways = providers.Singleton(
        builders.gateways, settings, counter, gateway.provider, open_resources
    )
    routing_gateway = providers.Singleton(RoutingChatGateway, gateways)
    authenticator = providers.Singleton(
        TokenAuthenticator,
        settings.provided.auth_tokens,
        providers.Callable(Settings.scoped_tokens, settings),
    )
    # The scoped tokens as the usage ledger charges them and budgets limit them.
    tenants = providers.Singleton(Settings.tenants, settings)
    policy = providers.Singleton(
        ChatPolicy,
        model=settings.provided.model,
        system_message=settings.provided.system_message,
        max_completion_tokens=settings.provided.max_completion_tokens,
        window_margin=settings.provided.window_margin,
        max_message_chars=settings.provided.max_message_chars,
        claim_ttl_seconds=settings.provided.claim_ttl_seconds,
        memory=providers.Callable(Memory, settings.provided.default_memory),
    )

    # What each model's provider counted for recent prompts, against our count.
    calibration = providers.Singleton(TokenCalibration)
    # How full a chat's window is, shown with every chat a use case answers with.
    chat_window = providers.Singleton(ChatWindow, registry, calibration)
    start_chat = providers.Singleton(
        StartChat, repository, counter, registry, policy, chat_window, clock=clock
    )
    local_rate_limiter = providers.Singleton(
        MemoryTurnRateLimiter, settings.provided.turns_per_minute_per_user
    )
    redis_pool = providers.Singleton(builders.redis_pool, settings, open_resources)
    shared_rate_limiter = providers.Singleton(builders.redis_rate_limiter, redis_pool, settings)
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
    observed_gateway = providers.Singleton(ObservedChatGateway, routing_gateway, turn_observer)
    # Summaries of what the window erased, written after the erasing turn, in the background.
    summary_limits = providers.Singleton(
        SummaryLimits, settings.provided.summary_model, settings.provided.summary_max_tokens
    )
    fold_erased_into_summary = providers.Singleton(
        FoldErasedIntoSummary,
        repository,
        observed_gateway,
        counter,
        registry,
        summary_limits,
        tenants,
        clock=clock,
    )
    summary_after_erasure = providers.Singleton(
        SummaryAfterErasure,
        fold_erased_into_summary,
        background_work,
        providers.Singleton(PrometheusSummaryObserver),
    )
    # Each turn's reserve against the budgets of its user and of the tenants covering them.
    turn_budgets = providers.Singleton(
        TurnBudgets,
        repository,
        registry,
        providers.Singleton(PromptFitter, counter, registry, policy, calibration),
        providers.Callable(Settings.user_budget, settings),
        tenants,
        clock,
    )
    take_turn = providers.Singleton(
        ObservedTurn,
        providers.Singleton(
            TakeTurn,
            repository,
            observed_gateway,
            counter,
            registry,
            policy,
            calibration,
            background_work,
            tenants,
            turn_budgets,
            clock=clock,
            after_commit=summary_after_erasure,
        ),
        turn_observer,
    )
    # The turn a caller asks for (a message, a regenerate, an edit): their rate counted first.
    admitted_turn = providers.Singleton(RateLimitedTurn, take_turn, rate_limiter)
    send_message = providers.Singleton(SendMessage, admitted_turn, policy)
    regenerate_reply = providers.Singleton(RegenerateReply, admitted_turn)
    edit_message = providers.Singleton(EditMessage, admitted_turn, policy, repository)
    fork_chat = providers.Singleton(ForkChat, repository, chat_window, clock=clock)
    # Background turns' live events: in this process, or in Redis for every replica.
    turn_log = providers.Selector(
        settings.provided.turn_events_store,
        process=providers.Singleton(
            InProcessTurnEventLog, retention_seconds=settings.provided.turn_retention_seconds
        ),
        redis=providers.Singleton(builders.redis_turn_log, redis_pool, settings, open_resources),
    )
    run_in_background = providers.Singleton(RunInBackground, turn_log, background_work)
    get_turn = providers.Singleton(GetTurn, turn_log, repository)
    watch_turn = providers.Singleton(WatchTurn, turn_log, repository)
    cancel_turn = providers.Singleton(CancelTurn, turn_log, repository)
    list_chats = providers.Singleton(ListChats, repository)
    get_chat = providers.Singleton(GetChat, repository, chat_window)
    end_chat = providers.Singleton(EndChat, repository, chat_window, clock=clock)
    delete_chat = providers.Singleton(DeleteChat, repository)
    check_readiness = providers.Singleton(CheckReadiness, repository)
    export_user_chats = providers.Singleton(ExportUserChats, repository, chat_window)
    import_chat = providers.Singleton(
        ImportChat, repository, counter, registry, policy, chat_window, clock=clock
    )
    start_chat_with_message = providers.Singleton(
        StartChatWithMessage, start_chat, send_message, delete_chat, background_work
    )

    # The OpenAI Responses API (docs/api.md): responses are turns, conversations are chats.
    response_store = providers.Singleton(builders.response_store, engine)
    get_response = providers.Singleton(
        GetResponse, response_store, get_turn, repository, policy, clock=clock
    )
    create_response = providers.Singleton(
        CreateResponse,
        response_store,
        repository,
        start_chat,
        send_message,
        delete_chat,
        fork_chat,
        run_in_background,
        background_work,
        settings.provided.max_message_chars,
        clock=clock,
    )
    delete_response = providers.Singleton(DeleteResponse, response_store)
    cancel_response = providers.Singleton(
        CancelResponse, response_store, cancel_turn, watch_turn, get_response
    )
    watch_response = providers.Singleton(WatchResponse, response_store, watch_turn)
    list_input_items = providers.Singleton(ListInputItems, response_store, repository)
    add_conversation_items = providers.Singleton(
        AddConversationItems, repository, counter, registry, policy, background_work, clock=clock
    )
    create_conversation = providers.Singleton(
        CreateConversation,
        start_chat,
        response_store,
        add_conversation_items,
        delete_chat,
        background_work,
    )
    get_conversation = providers.Singleton(GetConversation, repository, response_store)
    delete_conversation = providers.Singleton(DeleteConversation, delete_chat)
    list_conversation_items = providers.Singleton(ListConversationItems, repository)

    # WhatsApp through Twilio (docs/whatsapp.md): used only when `settings.twilio_configured`.
    twilio_signature = providers.Singleton(
        TwilioSignature, settings.provided.twilio_auth_token, settings.provided.public_base_url
    )
    messenger = providers.Singleton(builders.twilio_messenger, settings, open_resources)
    whatsapp_directory = providers.Singleton(builders.whatsapp_directory, engine)
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

    # A user's data: erased on request (`DELETE /v1/users/{u}`), in batches.
    erase_user = providers.Singleton(
        EraseUser, repository, whatsapp_directory, settings.provided.deletion_batch_size
    )
    # A user's spend, read from the usage ledger.
    report_usage = providers.Singleton(ReportUsage, repository, clock=clock)
    # Retention (docs/operations.md): the sweeper inside `serve`, and `chatservice prune`.
    leases = providers.Singleton(builders.leases, engine)
    prune_expired_data = providers.Singleton(
        PruneExpiredData,
        repository,
        whatsapp_directory,
        providers.Singleton(
            RetentionPolicy,
            chat_days=settings.provided.retention_days,
            whatsapp_message_days=settings.provided.twilio_dedupe_days,
            batch_size=settings.provided.deletion_batch_size,
        ),
        providers.Singleton(PrometheusPruneObserver),
        clock=clock,
    )
    retention_sweeper = providers.Singleton(
        RetentionSweeper,
        prune_expired_data,
        leases,
        settings.provided.retention_sweep_seconds,
        clock=clock,
    )


async def close_resources(container: Container) -> None:
    """Release what the container opened (the database pool, the HTTP clients of the model
    providers and Twilio, the Redis pool), building nothing: a provider it did not build it
    leaves alone, and one a test put in its place is the test's to close."""
    await container.open_resources().close()


def build_container(settings: Settings, **overrides: providers.Provider[object]) -> Container:
    """The container for `settings`; `overrides` replace providers by name (a test's clock)."""
    container = Container(settings=settings, **overrides)
    # Refuse at start-up a configuration that could never make a chat (unknown model, reserve
    # too large for the window), instead of failing at the first request.
    container.start_chat().check_defaults()
    check_summary_model(container.registry(), container.summary_limits())
    return container
