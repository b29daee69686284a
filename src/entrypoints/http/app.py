"""The Litestar application factory."""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.router import Router

from chatservice.entrypoints.container import Container
from chatservice.entrypoints.http.api_docs import api_docs_plugins, api_docs_router
from chatservice.entrypoints.http.caller import caller_middleware, require_token
from chatservice.entrypoints.http.chats import ChatsController
from chatservice.entrypoints.http.compat import compat_chat
from chatservice.entrypoints.http.control import ConversationController
from chatservice.entrypoints.http.exports import exports_router
from chatservice.entrypoints.http.health import healthz, readyz
from chatservice.entrypoints.http.litestar_internals import ClosedStructSchemaPlugin
from chatservice.entrypoints.http.metrics import MetricsController, metrics_middleware
from chatservice.entrypoints.http.openai.conversation_routes import OpenAIConversationsController
from chatservice.entrypoints.http.openai.errors import EXCEPTION_HANDLERS
from chatservice.entrypoints.http.openai.routes import OpenAIResponsesController
from chatservice.entrypoints.http.trace_id import trace_id_middleware
from chatservice.entrypoints.http.turn_routes import TurnsController
from chatservice.entrypoints.http.usage import usage_report
from chatservice.entrypoints.http.users import erase_user
from chatservice.entrypoints.http.web import web_chat_router
from chatservice.entrypoints.http.whatsapp import whatsapp_route

#: What the route handlers take from the container, by name.
_PROVIDED = (
    "start_chat",
    "send_message",
    "list_chats",
    "get_chat",
    "end_chat",
    "delete_chat",
    "start_chat_with_message",
    "check_readiness",
    "reply_to_whatsapp",
    "twilio_signature",
    "background_work",
    "run_in_background",
    "get_turn",
    "watch_turn",
    "cancel_turn",
    "export_user_chats",
    "import_chat",
    "erase_user",
    "report_usage",
    "create_response",
    "get_response",
    "delete_response",
    "cancel_response",
    "watch_response",
    "list_input_items",
    "create_conversation",
    "get_conversation",
    "delete_conversation",
    "list_conversation_items",
    "add_conversation_items",
    "regenerate_reply",
    "edit_message",
    "fork_chat",
)


def _provide(container: Container, name: str) -> Provide:
    provider = getattr(container, name)

    def resolve() -> Any:
        return provider()

    return Provide(resolve, use_cache=True, sync_to_thread=False)


def create_app(container: Container) -> Litestar:
    settings = container.settings()
    dependencies = {name: _provide(container, name) for name in _PROVIDED}
    authenticated = Router(
        path="/",
        route_handlers=[
            compat_chat,
            ChatsController,
            ConversationController,
            TurnsController,
            exports_router(settings.max_import_bytes),
            erase_user,
            usage_report,
            OpenAIResponsesController,
            OpenAIConversationsController,
        ],
        guards=[require_token],
        security=[{"token": []}],
    )
    return Litestar(
        # The WhatsApp webhook stays outside the token guard: its Twilio signature is its key.
        route_handlers=[
            healthz,
            readyz,
            MetricsController,
            whatsapp_route(settings.twilio_configured),
            authenticated,
            # The web chat page asks its user for the token; the page itself is open.
            web_chat_router(),
        ],
        middleware=[
            trace_id_middleware,
            metrics_middleware(),
            caller_middleware(container.authenticator()),
        ],
        dependencies=dependencies,
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        plugins=[ClosedStructSchemaPlugin()],
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="chatservice",
            version="1",
            description="Multi-turn conversations with language models, every message kept.",
            render_plugins=api_docs_plugins(),
            openapi_router=api_docs_router(),
            components=Components(
                security_schemes={
                    "token": SecurityScheme(
                        type="http",
                        scheme="bearer",
                        description="`Authorization: Bearer <token>` or `Authorization: <token>`",
                    )
                }
            ),
        ),
        state=State({"sse_ping_seconds": settings.sse_ping_seconds}),
        # The process configures logging (`chatservice serve`); Litestar's default would put
        # every library logger, httpx's included, on the root handler at INFO.
        logging_config=None,
        debug=False,
    )
