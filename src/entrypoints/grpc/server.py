"""The grpclib server: the chat services, health, reflection, and a gate in front of them.

The gate authenticates every call but health and reflection (and holds a scoped token to its
users as each request message arrives), counts the calls in flight, and
refuses new calls once the process is draining, so that shutdown can wait for in-flight calls
before cancelling what is left.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from grpclib.const import Status
from grpclib.encoding.proto import ProtoStatusDetailsCodec
from grpclib.events import RecvMessage, RecvRequest, SendInitialMetadata, listen
from grpclib.exceptions import GRPCError
from grpclib.health.service import Health
from grpclib.reflection.service import ServerReflection
from grpclib.server import Server, Stream

from chatservice.adapters.prometheus_metrics import observe_grpc_call
from chatservice.application.observability import current_trace_id, trace_id_from
from chatservice.domain.errors import ForbiddenUser
from chatservice.entrypoints.auth import FULL_ACCESS, TokenAuthenticator, current_caller
from chatservice.entrypoints.container import Container
from chatservice.entrypoints.grpc.errors import status_of
from chatservice.entrypoints.grpc.servicers import (
    ChatServiceV1,
    CompatChatService,
    ConversationControl,
)

_OPEN_PREFIXES = ("/grpc.health.v1.", "/grpc.reflection.")


class RpcGate:
    def __init__(self, authenticator: TokenAuthenticator) -> None:
        self._authenticator = authenticator
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._draining = False

    async def on_request(self, event: RecvRequest) -> None:
        method = event.method_name
        if self._draining:
            observe_grpc_call(method, Status.UNAVAILABLE.name, 0.0)
            raise GRPCError(Status.UNAVAILABLE, "the server is shutting down; retry elsewhere")
        caller = FULL_ACCESS
        if not method.startswith(_OPEN_PREFIXES):
            header = event.metadata.get("authorization")
            known = self._authenticator.caller(header if isinstance(header, str) else None)
            if known is None:
                observe_grpc_call(method, Status.UNAUTHENTICATED.name, 0.0)
                raise GRPCError(
                    Status.UNAUTHENTICATED, "send a valid token in the authorization metadata"
                )
            caller = known
        given = event.metadata.get("x-request-id")
        trace_id = trace_id_from(given if isinstance(given, str) else None)
        handle = event.method_func

        async def counted(stream: Stream[Any, Any]) -> None:
            self._in_flight += 1
            self._idle.clear()
            token = current_trace_id.set(trace_id)
            # Read by `check_request_user` as each request message arrives, in this task.
            scope = current_caller.set(caller)
            started, status = time.perf_counter(), Status.OK.name
            try:
                await handle(stream)
            except GRPCError as error:
                status = error.status.name
                raise
            except asyncio.CancelledError:
                status = Status.CANCELLED.name
                raise
            except Exception:
                status = Status.UNKNOWN.name
                raise
            finally:
                observe_grpc_call(method, status, time.perf_counter() - started)
                current_trace_id.reset(token)
                current_caller.reset(scope)
                self._in_flight -= 1
                if not self._in_flight:
                    self._idle.set()

        event.method_func = counted

    async def drain(self, grace_seconds: float) -> None:
        """Refuse new calls and wait, up to `grace_seconds`, for the calls in flight."""
        self._draining = True
        try:
            async with asyncio.timeout(grace_seconds):
                await self._idle.wait()
        except TimeoutError:
            pass


async def check_request_user(event: RecvMessage) -> None:
    """Refuse, before the servicer sees it, a request for a user the caller's token may not act
    for: every request of chatservice.v1 (and the compat ChatRequest) names its `user_id`."""
    user_id = getattr(event.message, "user_id", None)
    if isinstance(user_id, str):
        try:
            current_caller.get().check_user(user_id)
        except ForbiddenUser as error:
            raise GRPCError(status_of(error), error.message) from error


async def _return_trace_id(event: SendInitialMetadata) -> None:
    trace_id = current_trace_id.get()
    if trace_id is not None:
        event.metadata["x-request-id"] = trace_id


def create_grpc_server(container: Container) -> tuple[Server, RpcGate]:
    chat_services = [
        CompatChatService(container.send_message(), container.start_chat_with_message()),
        ChatServiceV1(
            container.start_chat(),
            container.send_message(),
            container.list_chats(),
            container.get_chat(),
            container.end_chat(),
            container.delete_chat(),
            container.run_in_background(),
            container.watch_turn(),
            container.cancel_turn(),
            ConversationControl(
                container.regenerate_reply(),
                container.edit_message(),
                container.fork_chat(),
            ),
            container.report_usage(),
        ),
    ]
    services: list[Any] = [*chat_services, Health()]
    # Named, not left to grpclib's guess (it picks this codec only when google.rpc imports, and
    # otherwise drops every status detail without a word): errors.py's RetryInfo needs it.
    server = Server(
        ServerReflection.extend(services), status_details_codec=ProtoStatusDetailsCodec()
    )
    gate = RpcGate(container.authenticator())
    listen(server, RecvRequest, gate.on_request)
    listen(server, RecvMessage, check_request_user)
    listen(server, SendInitialMetadata, _return_trace_id)
    return server, gate
