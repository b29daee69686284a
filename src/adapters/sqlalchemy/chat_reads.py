"""Reading one of a user's chats, for `SqlAlchemyChatRepository`: the chat with its summary, its
whole history, its head, a stored turn or message, what its summary has yet to cover. Each
function runs inside one of the repository's transactions, and raises `ChatNotFound` when the
user has no such chat.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, bindparam, false, select

from chatservice.adapters.sqlalchemy import summaries
from chatservice.adapters.sqlalchemy.dialects import MYSQL_DIALECTS
from chatservice.adapters.sqlalchemy.rows import chat_from, message_from
from chatservice.adapters.sqlalchemy.tables import WINDOW_INDEX, chats, messages
from chatservice.application.ports import ChatHead, ErasedSinceSummary, StoredTurn
from chatservice.domain.chat import Chat, Message, Role
from chatservice.domain.errors import ChatNotFound, TurnInProgress

# The chat columns a `Chat` is built from (the claim columns are the turns' business).
_CHAT_COLUMNS = tuple(c for c in chats.c if not c.name.startswith("claim_"))
#: Chats, each read with its summary beside it (`summaries.with_summary`).
CHATS = summaries.with_summary(select(*_CHAT_COLUMNS))
_OWNED_CHAT = CHATS.where(chats.c.id == bindparam("chat"), chats.c.user_id == bindparam("owner"))
# A chat's latest message not superseded is the later of the window's last (`erased` false) and
# the erased messages' last (`erased` true): each is one row read backwards through the window
# index, however long the history and however much of it is erased or superseded.
_LATEST_NOT_SUPERSEDED = (
    select(messages)
    .where(
        messages.c.chat_id == bindparam("chat"),
        messages.c.erased == bindparam("erased"),
        messages.c.superseded == false(),
    )
    .order_by(messages.c.position.desc())
    .limit(1)
)
for _dialect in MYSQL_DIALECTS:
    # As for a turn's reads: the optimizer could pick the primary key and walk the history.
    _LATEST_NOT_SUPERSEDED = _LATEST_NOT_SUPERSEDED.with_hint(
        messages, f"FORCE INDEX ({WINDOW_INDEX})", _dialect
    )


def owned_chat(connection: Connection, user_id: str, chat_id: str) -> Chat:
    """The chat with its summary, without its messages."""
    row = connection.execute(_OWNED_CHAT, {"chat": chat_id, "owner": user_id}).one_or_none()
    if row is None:
        raise ChatNotFound(chat_id)
    return chat_from(row)


def check_owner(connection: Connection, user_id: str, chat_id: str) -> None:
    found = connection.scalar(
        select(chats.c.id).where(chats.c.id == chat_id, chats.c.user_id == user_id)
    )
    if found is None:
        raise ChatNotFound(chat_id)


def whole_chat(connection: Connection, user_id: str, chat_id: str) -> Chat:
    """The chat with its whole history, erased and superseded messages included."""
    chat = owned_chat(connection, user_id, chat_id)
    chat.messages = history(connection, chat_id)
    return chat


def history(connection: Connection, chat_id: str) -> list[Message]:
    """The chat's whole history in order."""
    query = select(messages).where(messages.c.chat_id == chat_id).order_by(messages.c.position)
    return [message_from(row) for row in connection.execute(query)]


def settled_chat(connection: Connection, user_id: str, chat_id: str, now: datetime) -> Chat:
    """The whole chat, provided no claim unexpired at `now` holds it (else `TurnInProgress`)."""
    holder = connection.execute(
        select(chats.c.claim_idempotency_key).where(
            chats.c.id == chat_id,
            chats.c.user_id == user_id,
            chats.c.claim_expires_at > now,
        )
    ).scalar_one_or_none()
    if holder is not None:
        raise TurnInProgress(chat_id, holder)
    return whole_chat(connection, user_id, chat_id)


def head(connection: Connection, user_id: str, chat_id: str) -> ChatHead:
    """The chat without its messages, and its latest message not superseded."""
    chat = owned_chat(connection, user_id, chat_id)
    latest = [
        message_from(row)
        for erased in (False, True)
        for row in connection.execute(_LATEST_NOT_SUPERSEDED, {"chat": chat_id, "erased": erased})
    ]
    return ChatHead(chat, max(latest, key=lambda m: m.position, default=None))


def find_turn(
    connection: Connection, user_id: str, chat_id: str, idempotency_key: str
) -> StoredTurn | None:
    """The committed turn of `idempotency_key`, whichever of its messages holds the key."""
    check_owner(connection, user_id, chat_id)
    asked = connection.execute(
        select(messages).where(
            messages.c.chat_id == chat_id, messages.c.idempotency_key == idempotency_key
        )
    ).one_or_none()
    if asked is None:
        return None
    if asked.role == Role.USER.value:
        reply = connection.execute(
            select(messages).where(
                messages.c.chat_id == chat_id, messages.c.position == asked.position + 1
            )
        ).one()
        return StoredTurn(message_from(asked), message_from(reply))
    # A regenerated reply: the question it answered is the nearest one before it.
    question = connection.execute(
        select(messages)
        .where(
            messages.c.chat_id == chat_id,
            messages.c.position < asked.position,
            messages.c.role == Role.USER.value,
        )
        .order_by(messages.c.position.desc())
        .limit(1)
    ).one()
    return StoredTurn(message_from(question), message_from(asked))


def find_message(
    connection: Connection, user_id: str, chat_id: str, message_id: str
) -> Message | None:
    check_owner(connection, user_id, chat_id)
    row = connection.execute(
        select(messages).where(messages.c.chat_id == chat_id, messages.c.id == message_id)
    ).one_or_none()
    return None if row is None else message_from(row)


def erased_since_summary(connection: Connection, user_id: str, chat_id: str) -> ErasedSinceSummary:
    """The chat without its messages, and the erased ones its summary does not cover."""
    chat = owned_chat(connection, user_id, chat_id)
    after = chat.summary.covers_through_position if chat.summary else 0
    return ErasedSinceSummary(chat, summaries.erased_after(connection, chat_id, after))
