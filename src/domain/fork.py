"""Forking a chat: a new chat that carries on from a message of another."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from chatservice.domain.chat import Chat, ForkOrigin, Role, title_from
from chatservice.domain.errors import MessageErased, MessageNotFound, MessageSuperseded


def fork_of(
    chat: Chat,
    message_id: str,
    new_id: Callable[[], str],
    now: datetime,
    idempotency_key: str | None = None,
) -> Chat:
    """A new chat of `chat`'s user, model and parameters whose history reads as `chat`'s up to
    and including `message_id` (`chat` holds its whole history): copies of the messages that
    were not superseded, under new ids and numbered afresh, erased flags, counts and usage
    kept. The fork starts with no usage of its own (its turns are the ones it will pay for),
    its title from its first user message, and `forked_from` naming where it came from.

    Raises `MessageNotFound` for a message not in `chat`, `MessageSuperseded` for a replaced
    one, and `MessageErased` for one erased from the window: a fork from it would leave the
    model nothing of the history, its question included.
    """
    index = next((i for i, m in enumerate(chat.messages) if m.id == message_id), None)
    if index is None:
        raise MessageNotFound(message_id)
    point = chat.messages[index]
    if point.superseded:
        raise MessageSuperseded(message_id)
    if point.erased:
        raise MessageErased(message_id)
    kept = (m for m in chat.messages[: index + 1] if not m.superseded)
    # A key names a request made to the original chat, and what a message replaced is there too.
    copies = [
        replace(m, id=new_id(), position=p, idempotency_key=None, replaces=None)
        for p, m in enumerate(kept)
    ]
    first_question = next((m.content for m in copies if m.role is Role.USER), None)
    return Chat(
        id=new_id(),
        user_id=chat.user_id,
        model=chat.model,
        params=chat.params,
        created_at=now,
        updated_at=now,
        messages=copies,
        title=title_from(first_question) if first_question is not None else "",
        forked_from=ForkOrigin(chat.id, message_id, idempotency_key),
        # The summary stays behind (it may cover messages past the fork); the fork's first
        # erasing turn folds every erased copy into a summary of its own.
        memory=chat.memory,
    )
