"""The SQL of a turn, for `SqlAlchemyChatRepository`: the claim that marks a chat busy and reads
its window, the commit that stores the turn over the version it read, and the release of a claim
given up. Each function runs inside one of the repository's transactions.

A turn reads only the chat row and its window (the messages neither erased nor superseded) and
writes only its new rows and changed flags, so its cost follows the context window, not the
length of the history (tests/integration/test_turn_cost.py). Its statements are built once:
building a SQLAlchemy statement costs more CPU than executing it does (bench/analysis.md, the
profile of a turn).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, bindparam, false, or_, select, update

from chatservice.adapters.sqlalchemy import budgets, usage
from chatservice.adapters.sqlalchemy.chat_lifecycle import add_messages
from chatservice.adapters.sqlalchemy.chat_reads import owned_chat
from chatservice.adapters.sqlalchemy.dialects import MYSQL_DIALECTS
from chatservice.adapters.sqlalchemy.rows import message_from
from chatservice.adapters.sqlalchemy.tables import WINDOW_INDEX, chats, messages
from chatservice.application.ports import TurnClaim
from chatservice.domain.chat import Chat, ChatStatus, Message
from chatservice.domain.errors import ChatEnded, ChatNotFound, ConcurrentUpdate, TurnInProgress
from chatservice.domain.turn import TurnRecord

# MySQL's optimizer reads a short chat through the primary key (all its rows), and might do so for
# a long one on stale statistics; the window index keeps a turn's reads to the window's rows.
_USE_WINDOW_INDEX = f"FORCE INDEX ({WINDOW_INDEX})"

_CLAIM = (
    update(chats)
    .where(
        chats.c.id == bindparam("chat"),
        chats.c.user_id == bindparam("owner"),
        chats.c.status == ChatStatus.ACTIVE.value,
        or_(
            chats.c.claim_idempotency_key.is_(None),
            chats.c.claim_expires_at <= bindparam("now"),
        ),
    )
    .values(
        claim_idempotency_key=bindparam("new_claim"),
        claim_expires_at=bindparam("new_claim_expires"),
    )
)
# The claim of a chat this replica holds at `cached_version`: if it claims, nothing need be read.
_CLAIM_AT_VERSION = _CLAIM.where(chats.c.version == bindparam("cached_version"))
_IN_WINDOW = (
    messages.c.chat_id == bindparam("chat"),
    messages.c.erased == false(),
    messages.c.superseded == false(),
)
_WINDOW = select(messages).where(*_IN_WINDOW).order_by(messages.c.position)
_ERASE = (
    update(messages)
    .where(
        *_IN_WINDOW,
        messages.c.position > 0,
        messages.c.position < bindparam("erase_before"),
    )
    .values(erased=True)
)
_SUPERSEDE = (
    update(messages)
    .where(*_IN_WINDOW, messages.c.position >= bindparam("supersede_from"))
    .values(superseded=True)
)
for _dialect in MYSQL_DIALECTS:
    _WINDOW = _WINDOW.with_hint(messages, _USE_WINDOW_INDEX, _dialect)
    _ERASE = _ERASE.with_hint(_USE_WINDOW_INDEX, dialect_name=_dialect)
    _SUPERSEDE = _SUPERSEDE.with_hint(_USE_WINDOW_INDEX, dialect_name=_dialect)
_COMMIT = (
    update(chats)
    .where(
        chats.c.id == bindparam("chat"),
        chats.c.version == bindparam("expected_version"),
        chats.c.claim_idempotency_key == bindparam("claim"),
    )
    .values(
        version=chats.c.version + 1,
        updated_at=bindparam("now"),
        prompt_tokens=chats.c.prompt_tokens + bindparam("prompt_tokens_used"),
        completion_tokens=chats.c.completion_tokens + bindparam("completion_tokens_used"),
        cached_prompt_tokens=chats.c.cached_prompt_tokens + bindparam("cached_prompt_tokens_used"),
        cost=chats.c.cost + bindparam("cost_used"),
        claim_idempotency_key=None,
        claim_expires_at=None,
    )
)
_COMMIT_WITH_TITLE = _COMMIT.values(title=bindparam("new_title"))
_RENEW = (
    update(chats)
    .where(
        chats.c.id == bindparam("chat"),
        chats.c.claim_idempotency_key == bindparam("claim"),
        chats.c.claim_expires_at > bindparam("now"),
    )
    .values(claim_expires_at=bindparam("expires"))
)
_RELEASE = (
    update(chats)
    .where(chats.c.id == bindparam("chat"), chats.c.claim_idempotency_key == bindparam("claim"))
    .values(claim_idempotency_key=None, claim_expires_at=None)
)


def claim_at_version(
    connection: Connection, user_id: str, chat_id: str, turn_claim: TurnClaim, version: int
) -> bool:
    """Claim the chat provided it is still at `version`, reading nothing; whether it did."""
    at_version = {**_claim_parameters(user_id, chat_id, turn_claim), "cached_version": version}
    return connection.execute(_CLAIM_AT_VERSION, at_version).rowcount == 1


def claim(connection: Connection, user_id: str, chat_id: str, turn_claim: TurnClaim) -> Chat:
    """Claim the chat and read it with its window; `ChatNotFound`, `ChatEnded` or
    `TurnInProgress` (with the holder's idempotency key) when it cannot be claimed."""
    if connection.execute(_CLAIM, _claim_parameters(user_id, chat_id, turn_claim)).rowcount != 1:
        _raise_why_not_claimed(connection, user_id, chat_id)
    chat = owned_chat(connection, user_id, chat_id)
    chat.messages = _window(connection, chat_id)
    return chat


def commit(connection: Connection, turn: TurnRecord) -> None:
    """Store the turn over the chat at `turn.expected_version`, releasing its claim and its
    budget reserves; `ConcurrentUpdate` when the version moved or the claim is not the turn's."""
    bumped = connection.execute(
        _COMMIT if turn.title is None else _COMMIT_WITH_TITLE,
        {
            "chat": turn.chat_id,
            "expected_version": turn.expected_version,
            "claim": turn.idempotency_key,
            "now": turn.updated_at,
            "prompt_tokens_used": turn.usage.prompt_tokens,
            "completion_tokens_used": turn.usage.completion_tokens,
            "cached_prompt_tokens_used": turn.usage.cached_prompt_tokens,
            "cost_used": turn.usage.cost,
            "new_title": turn.title,
        },
    )
    if bumped.rowcount != 1:
        raise ConcurrentUpdate(turn.chat_id)
    if turn.erase_before is not None:
        connection.execute(_ERASE, {"chat": turn.chat_id, "erase_before": turn.erase_before})
    if turn.supersede_from is not None:
        connection.execute(
            _SUPERSEDE, {"chat": turn.chat_id, "supersede_from": turn.supersede_from}
        )
    add_messages(connection, turn.user_id, turn.chat_id, turn.new_messages)
    if turn.call is not None:
        usage.record_call(connection, turn.user_id, turn.chat_id, turn.call)
    # With the ledger row: the account's spend counts the reserve or the usage, never both nor
    # neither.
    budgets.release(connection, turn.chat_id, turn.idempotency_key)


def renew(
    connection: Connection, chat_id: str, idempotency_key: str, now: datetime, expires_at: datetime
) -> bool:
    """Hold the chat until `expires_at` if the turn of `idempotency_key` still holds it
    unexpired at `now`, and its budget reserves with it; whether it did."""
    held = connection.execute(
        _RENEW, {"chat": chat_id, "claim": idempotency_key, "now": now, "expires": expires_at}
    )
    if held.rowcount != 1:
        return False
    budgets.renew(connection, chat_id, idempotency_key, expires_at)
    return True


def release(connection: Connection, chat_id: str, idempotency_key: str) -> None:
    """Drop the claim if the turn of `idempotency_key` still holds it, and the turn's budget
    reserves in any case."""
    connection.execute(_RELEASE, {"chat": chat_id, "claim": idempotency_key})
    budgets.release(connection, chat_id, idempotency_key)


def _claim_parameters(user_id: str, chat_id: str, turn_claim: TurnClaim) -> dict[str, object]:
    return {
        "chat": chat_id,
        "owner": user_id,
        "now": turn_claim.claimed_at,
        "new_claim": turn_claim.idempotency_key,
        "new_claim_expires": turn_claim.expires_at,
    }


def _raise_why_not_claimed(connection: Connection, user_id: str, chat_id: str) -> None:
    row = connection.execute(
        select(chats.c.status, chats.c.claim_idempotency_key).where(
            chats.c.id == chat_id, chats.c.user_id == user_id
        )
    ).one_or_none()
    if row is None:
        raise ChatNotFound(chat_id)
    if row.status == ChatStatus.ENDED.value:
        raise ChatEnded(chat_id)
    raise TurnInProgress(chat_id, row.claim_idempotency_key)


def _window(connection: Connection, chat_id: str) -> list[Message]:
    """The chat's window in order: its messages neither erased nor superseded."""
    return [message_from(row) for row in connection.execute(_WINDOW, {"chat": chat_id})]
