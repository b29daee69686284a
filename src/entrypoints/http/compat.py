"""`POST /chat`: the original service's HTTP contract, kept for its existing clients."""

from __future__ import annotations

from typing import Any

from litestar import Request, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from chatservice.application.background import BackgroundWork
from chatservice.application.first_turn import StartChatWithMessage
from chatservice.application.turns import SendMessage
from chatservice.entrypoints.auth import check_user
from chatservice.entrypoints.http.errors import error_responses
from chatservice.entrypoints.http.schemas import CompatChatRequest, CompatChatResponse
from chatservice.entrypoints.http.turns import complete_turn


@post(
    "/chat",
    status_code=200,
    tags=["compat"],
    summary="Send a message; without chat_id a new chat starts (original contract)",
    responses=error_responses(400, 401, 404, 409, 413, 429, 502, 503, 504),
)
async def compat_chat(
    request: Request[Any, Any, Any],
    data: JSONBody[CompatChatRequest],
    send_message: NamedDependency[SendMessage],
    start_chat_with_message: NamedDependency[StartChatWithMessage],
    background_work: NamedDependency[BackgroundWork],
) -> CompatChatResponse:
    check_user(data.user_id)
    # Only an absent chat_id starts a chat: an unknown one is a 404, never a silent new chat.
    if data.chat_id:
        events = send_message(data.user_id, data.chat_id, data.user_message, deltas=False)
    else:
        events = start_chat_with_message(data.user_id, data.user_message, deltas=False)
    completed = await complete_turn(request, events, background_work)
    return CompatChatResponse(completed.chat_id, data.user_id, completed.reply.content)
