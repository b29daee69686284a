"""What a turn hands its caller as it runs: the reply's pieces, then the stored turn."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass

from chatservice.domain.chat import Message


@dataclass(frozen=True)
class Delta:
    text: str


@dataclass(frozen=True)
class Completed:
    chat_id: str
    user_message: Message
    reply: Message
    #: How many messages this turn erased from the context window.
    erased: int = 0
    #: The model that wrote the reply; `None` when the turn was `replayed`.
    model: str | None = None
    #: The stored outcome of an earlier request with the same idempotency key, given again
    #: without calling the model.
    replayed: bool = False


@dataclass(frozen=True)
class ChatStarted:
    """The first event of `StartChatWithMessage`: the new chat's id, before any delta."""

    chat_id: str


@dataclass(frozen=True)
class Accepted:
    """The turn is under way: it holds its chat and its prompt fits the window, so what follows
    is the model's answer. Not given for a `replayed` turn. A background turn is answered 202
    on this event: the refusals (a busy or unknown chat, a message too long, …) come before it.
    """

    #: The turn's idempotency key: the caller's, or the one the turn made up.
    idempotency_key: str


TurnEvent = ChatStarted | Accepted | Delta | Completed


async def run_to_completion(events: AsyncGenerator[TurnEvent, None]) -> Completed:
    """Drive a turn to its end, for callers that want only the stored reply."""
    async with aclosing(events) as stream:
        async for event in stream:
            if isinstance(event, Completed):
                return event
    raise RuntimeError("the turn ended without completing")
