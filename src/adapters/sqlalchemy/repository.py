"""`SqlAlchemyChatRepository`: the `ChatRepository` port over SQLAlchemy Core (async).

Every method is one short transaction, run as one synchronous function (`Transactions.run`). A
turn reads only the chat row and its window, the messages neither erased nor superseded (nothing
at all when this replica's `WindowCache` holds the chat at its current version), and writes only
its new rows and changed flags, so its cost follows the context window, not the length of the
history (tests/integration/test_turn_cost.py).
Connection failures become `StorageUnavailable`. A write that loses to another transaction on
the same rows (a deadlock; on Galera, another node's write-set winning certification) becomes
what the loss means: a claim that lost is `TurnInProgress`, a commit that lost is
`ConcurrentUpdate`; adding, ending and deleting a chat and releasing a claim run once more, then
are `ConcurrentUpdate` (docs/reliability.md). A budget claim (`budgets.py`) runs again after
random pauses that grow, as claims on one account through two Galera nodes keep conflicting.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Connection,
    and_,
    bindparam,
    exc,
    false,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import Select

from chatservice.adapters.sqlalchemy import budgets, message_pages, search, summaries, usage
from chatservice.adapters.sqlalchemy.removal import remove_chats, updated_before
from chatservice.adapters.sqlalchemy.rows import chat_from, chat_row, message_from, message_row
from chatservice.adapters.sqlalchemy.tables import (
    MYSQL_DIALECTS,
    WINDOW_INDEX,
    chats,
    messages,
)
from chatservice.adapters.sqlalchemy.transactions import Transactions, WriteConflict
from chatservice.adapters.sqlalchemy.window_cache import WindowCache
from chatservice.application.ports import (
    ChatCursor,
    ChatHead,
    ErasedSinceSummary,
    StoredTurn,
    TurnClaim,
)
from chatservice.domain.budgets import BudgetClaim
from chatservice.domain.chat import Chat, ChatStatus, Message, Role
from chatservice.domain.errors import (
    ChatEnded,
    ChatNotFound,
    ConcurrentUpdate,
    TurnInProgress,
)
from chatservice.domain.memory import ChatSummary, Memory
from chatservice.domain.turn import TurnRecord
from chatservice.domain.usage import GroupBy, PaidCall, UsageGroup

# The chat columns a `Chat` is built from (the claim columns are the repository's business).
_CHAT_COLUMNS = tuple(c for c in chats.c if not c.name.startswith("claim_"))
# MySQL's optimizer reads a short chat through the primary key (all its rows), and might do so for
# a long one on stale statistics; the window index keeps a turn's reads to the window's rows.
_USE_WINDOW_INDEX = f"FORCE INDEX ({WINDOW_INDEX})"

# A turn's statements are built once: building a SQLAlchemy statement costs more CPU than
# executing it does (bench/analysis.md, the profile of a turn).
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
# A chat is read with its summary beside it (`summaries.with_summary`).
_CHATS = summaries.with_summary(select(*_CHAT_COLUMNS))
_OWNED_CHAT = _CHATS.where(chats.c.id == bindparam("chat"), chats.c.user_id == bindparam("owner"))
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
    _WINDOW = _WINDOW.with_hint(messages, _USE_WINDOW_INDEX, _dialect)
    _LATEST_NOT_SUPERSEDED = _LATEST_NOT_SUPERSEDED.with_hint(messages, _USE_WINDOW_INDEX, _dialect)
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
_RELEASE = (
    update(chats)
    .where(chats.c.id == bindparam("chat"), chats.c.claim_idempotency_key == bindparam("claim"))
    .values(claim_idempotency_key=None, claim_expires_at=None)
)
_ADD_MESSAGES = insert(messages)
# A table, not `SELECT 1`: a Galera node outside the primary component answers statements that
# read no table, and refuses every other (1047, "WSREP has not yet prepared node").
_PING = select(chats.c.id).limit(1)
#: How often a write that may simply run again is tried when it loses to another transaction.
#: A second loss in a row is contention a caller should hear of (409) rather than wait out.
_IDEMPOTENT_ATTEMPTS = 2


class SqlAlchemyChatRepository:
    def __init__(self, engine: AsyncEngine, window_cache_bytes: int) -> None:
        """`window_cache_bytes`: the memory its window cache may hold (the `window_cache_mb`
        setting; 0 turns the cache off)."""
        self._transactions = Transactions(engine)
        self._windows = WindowCache(window_cache_bytes)
        self._settled = budgets.SettledSpend()
        self._dialect = engine.dialect.name

    async def add_chat(self, chat: Chat) -> None:
        def add(connection: Connection) -> None:
            connection.execute(insert(chats).values(chat_row(chat)))
            if chat.messages:
                connection.execute(_ADD_MESSAGES, [message_row(chat.id, m) for m in chat.messages])
                search.index_messages(connection, chat.user_id, chat.id, chat.messages)

        try:
            await self._transactions.run(add, write=True, attempts=_IDEMPOTENT_ATTEMPTS)
        except (exc.IntegrityError, WriteConflict) as error:
            # Lost to another transaction, or to a fork stored first under the same key.
            raise ConcurrentUpdate(chat.id) from error
        self._windows.put(chat)

    async def claim_turn(self, user_id: str, chat_id: str, claim: TurnClaim) -> Chat:
        parameters = {
            "chat": chat_id,
            "owner": user_id,
            "now": claim.claimed_at,
            "new_claim": claim.idempotency_key,
            "new_claim_expires": claim.expires_at,
        }

        def claim_and_read(connection: Connection) -> tuple[Chat, bool]:
            """The claimed chat with its window, and whether it was read (not the cached copy)."""
            cached = self._windows.get(chat_id)
            if cached is not None:
                at_version = {**parameters, "cached_version": cached.version}
                if connection.execute(_CLAIM_AT_VERSION, at_version).rowcount == 1:
                    if cached.memory is Memory.SUMMARY:
                        # Stored beside the chat without moving its version: read afresh.
                        cached.summary = summaries.read_summary(connection, chat_id)
                    return cached, False
            claimed = connection.execute(_CLAIM, parameters)
            if claimed.rowcount != 1:
                _raise_why_not_claimed(connection, user_id, chat_id)
            chat = _owned_chat(connection, user_id, chat_id)
            chat.messages = _window(connection, chat_id)
            return chat, True

        try:
            chat, read = await self._transactions.run(claim_and_read, write=True)
        except WriteConflict as error:
            # Another transaction wrote the chat row first: another replica's claim (on Galera,
            # through another node, certified before this one), or a turn or end it committed.
            self._windows.forget(chat_id)
            raise TurnInProgress(chat_id) from error
        if read:
            # Only once committed: a claim that lost at COMMIT read what it cannot vouch for.
            self._windows.put(chat)
        return chat

    async def release_turn(self, chat_id: str, idempotency_key: str) -> None:
        def release(connection: Connection) -> None:
            connection.execute(_RELEASE, {"chat": chat_id, "claim": idempotency_key})
            budgets.release(connection, chat_id, idempotency_key)

        try:
            await self._transactions.run(release, write=True, attempts=_IDEMPOTENT_ATTEMPTS)
        except WriteConflict as error:
            raise ConcurrentUpdate(chat_id) from error

    async def commit_turn(self, turn: TurnRecord) -> None:
        def commit(connection: Connection) -> None:
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
                connection.execute(
                    _ERASE, {"chat": turn.chat_id, "erase_before": turn.erase_before}
                )
            if turn.supersede_from is not None:
                connection.execute(
                    _SUPERSEDE, {"chat": turn.chat_id, "supersede_from": turn.supersede_from}
                )
            connection.execute(
                _ADD_MESSAGES, [message_row(turn.chat_id, m) for m in turn.new_messages]
            )
            search.index_messages(connection, turn.user_id, turn.chat_id, turn.new_messages)
            if turn.call is not None:
                usage.record_call(connection, turn.user_id, turn.chat_id, turn.call)
            # With the ledger row: the account's spend counts the reserve or the usage, never
            # both nor neither.
            budgets.release(connection, turn.chat_id, turn.idempotency_key)

        try:
            await self._transactions.run(commit, write=True)
        except ConcurrentUpdate:
            self._windows.forget(turn.chat_id)
            raise
        except (exc.IntegrityError, WriteConflict) as error:
            # Another writer took the position or the idempotency key first, or its transaction (on
            # Galera, another node's write-set) won the chat row: nothing of this turn is stored.
            self._windows.forget(turn.chat_id)
            raise ConcurrentUpdate(turn.chat_id) from error
        self._windows.record_turn(turn)

    async def claim_budget(self, claim: BudgetClaim) -> None:
        def reserve(connection: Connection) -> None:
            budgets.claim(connection, claim, self._settled)

        for pause in (*budgets.CONFLICT_PAUSES, None):
            try:
                return await self._transactions.run(reserve, write=True)
            except (exc.IntegrityError, WriteConflict) as error:
                # Another claim on the same account won its lock row (another Galera node's,
                # or the account's first claim made the row first): run again, from the lock.
                if pause is None:
                    raise ConcurrentUpdate(
                        claim.chat_id,
                        message="too many turns claimed this budget at once; retry the message",
                    ) from error
                await asyncio.sleep(random.uniform(0, pause))

    async def find_turn(
        self, user_id: str, chat_id: str, idempotency_key: str
    ) -> StoredTurn | None:
        def find(connection: Connection) -> StoredTurn | None:
            _check_owner(connection, user_id, chat_id)
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

        return await self._transactions.run(find, write=False)

    async def find_message(self, user_id: str, chat_id: str, message_id: str) -> Message | None:
        def find(connection: Connection) -> Message | None:
            _check_owner(connection, user_id, chat_id)
            row = connection.execute(
                select(messages).where(messages.c.chat_id == chat_id, messages.c.id == message_id)
            ).one_or_none()
            return None if row is None else message_from(row)

        return await self._transactions.run(find, write=False)

    async def get_chat(self, user_id: str, chat_id: str) -> Chat:
        def read(connection: Connection) -> Chat:
            chat = _owned_chat(connection, user_id, chat_id)
            chat.messages = _messages(connection, chat_id)
            return chat

        return await self._transactions.run(read, write=False)

    async def get_chat_head(self, user_id: str, chat_id: str) -> ChatHead:
        def read(connection: Connection) -> ChatHead:
            chat = _owned_chat(connection, user_id, chat_id)
            latest = [
                message_from(row)
                for erased in (False, True)
                for row in connection.execute(
                    _LATEST_NOT_SUPERSEDED, {"chat": chat_id, "erased": erased}
                )
            ]
            return ChatHead(chat, max(latest, key=lambda m: m.position, default=None))

        return await self._transactions.run(read, write=False)

    async def list_messages(
        self, user_id: str, chat_id: str, limit: int, after: str | None, newest_first: bool
    ) -> list[Message]:
        def read(connection: Connection) -> list[Message]:
            _check_owner(connection, user_id, chat_id)
            return message_pages.page(connection, chat_id, limit, after, newest_first)

        return await self._transactions.run(read, write=False)

    async def get_settled_chat(self, user_id: str, chat_id: str, now: datetime) -> Chat:
        def read(connection: Connection) -> Chat:
            holder = connection.execute(
                select(chats.c.claim_idempotency_key).where(
                    chats.c.id == chat_id,
                    chats.c.user_id == user_id,
                    chats.c.claim_expires_at > now,
                )
            ).scalar_one_or_none()
            if holder is not None:
                raise TurnInProgress(chat_id, holder)
            chat = _owned_chat(connection, user_id, chat_id)
            chat.messages = _messages(connection, chat_id)
            return chat

        return await self._transactions.run(read, write=False)

    async def find_fork(self, user_id: str, chat_id: str, idempotency_key: str) -> Chat | None:
        def find(connection: Connection) -> Chat | None:
            row = connection.execute(
                _CHATS.where(
                    chats.c.forked_from_chat_id == chat_id,
                    chats.c.fork_idempotency_key == idempotency_key,
                    chats.c.user_id == user_id,
                )
            ).one_or_none()
            if row is None:
                return None
            fork = chat_from(row)
            fork.messages = _messages(connection, fork.id)
            return fork

        return await self._transactions.run(find, write=False)

    async def list_chats(self, user_id: str, limit: int, after: ChatCursor | None) -> list[Chat]:
        query = _after(_CHATS.where(chats.c.user_id == user_id), after).limit(limit)

        def read(connection: Connection) -> list[Chat]:
            return [chat_from(row) for row in connection.execute(query)]

        return await self._transactions.run(read, write=False)

    async def search_chats(
        self, user_id: str, words: Sequence[str], limit: int, after: ChatCursor | None
    ) -> list[Chat]:
        matching = search.matching_chat_ids(self._dialect, user_id, words)
        query = _after(_CHATS.where(chats.c.user_id == user_id, chats.c.id.in_(matching)), after)

        def read(connection: Connection) -> list[Chat]:
            return [chat_from(row) for row in connection.execute(query.limit(limit))]

        return await self._transactions.run(read, write=False)

    async def list_chat_ids(self, user_id: str, limit: int, after: str | None) -> list[str]:
        query = select(chats.c.id).where(chats.c.user_id == user_id)
        if after is not None:
            query = query.where(chats.c.id > after)
        query = query.order_by(chats.c.id).limit(limit)

        def read(connection: Connection) -> list[str]:
            return list(connection.scalars(query))

        return await self._transactions.run(read, write=False)

    async def end_chat(self, user_id: str, chat_id: str, now: datetime) -> Chat:
        def end(connection: Connection) -> Chat:
            connection.execute(
                update(chats)
                .where(
                    chats.c.id == chat_id,
                    chats.c.user_id == user_id,
                    chats.c.status != ChatStatus.ENDED.value,
                )
                .values(status=ChatStatus.ENDED.value, updated_at=now, version=chats.c.version + 1)
            )
            chat = _owned_chat(connection, user_id, chat_id)
            chat.messages = _messages(connection, chat_id)
            return chat

        self._windows.forget(chat_id)
        try:
            return await self._transactions.run(end, write=True, attempts=_IDEMPOTENT_ATTEMPTS)
        except WriteConflict as error:
            raise ConcurrentUpdate(chat_id) from error

    async def delete_chat(self, user_id: str, chat_id: str) -> None:
        def delete_all(connection: Connection) -> None:
            _check_owner(connection, user_id, chat_id)
            remove_chats(connection, [chat_id])

        try:
            await self._transactions.run(delete_all, write=True, attempts=_IDEMPOTENT_ATTEMPTS)
        except WriteConflict as error:
            raise ConcurrentUpdate(chat_id) from error
        self._windows.forget(chat_id)

    async def erased_since_summary(self, user_id: str, chat_id: str) -> ErasedSinceSummary:
        def read(connection: Connection) -> ErasedSinceSummary:
            chat = _owned_chat(connection, user_id, chat_id)
            after = chat.summary.covers_through_position if chat.summary else 0
            return ErasedSinceSummary(chat, summaries.erased_after(connection, chat_id, after))

        return await self._transactions.run(read, write=False)

    async def store_summary(
        self, user_id: str, chat_id: str, summary: ChatSummary, call: PaidCall
    ) -> None:
        def store(connection: Connection) -> None:
            summaries.store_summary(connection, user_id, chat_id, summary, call.usage)
            usage.record_call(connection, user_id, chat_id, call)

        try:
            await self._transactions.run(store, write=True)
        except (exc.IntegrityError, WriteConflict) as error:
            # Another first summary took the row, or another transaction wrote it first.
            raise ConcurrentUpdate(chat_id) from error

    async def delete_user_chats(self, user_id: str, limit: int) -> int:
        return await self._delete_chats(select(chats.c.id).where(chats.c.user_id == user_id), limit)

    async def delete_user_usage(self, user_id: str, limit: int) -> int:
        def delete_batch(connection: Connection) -> int:
            return usage.delete_user_calls(connection, user_id, limit)

        try:
            return await self._transactions.run(
                delete_batch, write=True, attempts=_IDEMPOTENT_ATTEMPTS
            )
        except WriteConflict as error:
            raise ConcurrentUpdate(
                user_id, message=f"usage of user {user_id!r} changed while it was erased; retry"
            ) from error

    async def usage_report(
        self, user_id: str, first_day: date, last_day: date, group_by: GroupBy
    ) -> list[UsageGroup]:
        def read(connection: Connection) -> list[UsageGroup]:
            return usage.report(connection, user_id, first_day, last_day, group_by)

        return await self._transactions.run(read, write=False)

    async def delete_chats_updated_before(self, before: datetime, now: datetime, limit: int) -> int:
        return await self._delete_chats(updated_before(select(chats.c.id), before, now), limit)

    async def count_chats_updated_before(self, before: datetime, now: datetime) -> int:
        query = updated_before(select(func.count()).select_from(chats), before, now)

        def count(connection: Connection) -> int:
            return int(connection.scalar(query) or 0)

        return await self._transactions.run(count, write=False)

    async def _delete_chats(self, chosen: Select[Any], limit: int) -> int:
        """Delete up to `limit` of the chats `chosen` selects, in one transaction; how many
        this transaction deleted."""
        deleted: list[str] = []

        def delete_batch(connection: Connection) -> int:
            deleted[:] = connection.scalars(chosen.limit(limit))
            return remove_chats(connection, deleted)

        try:
            count = await self._transactions.run(
                delete_batch, write=True, attempts=_IDEMPOTENT_ATTEMPTS
            )
        except WriteConflict as error:
            raise ConcurrentUpdate(
                deleted[0] if deleted else "",
                message="chats changed while they were being deleted; retry",
            ) from error
        for chat_id in deleted:
            self._windows.forget(chat_id)
        return count

    async def ping(self) -> None:
        def read_a_table(connection: Connection) -> None:
            connection.execute(_PING)

        await self._transactions.run(read_a_table, write=False)


def _after(query: Select[Any], after: ChatCursor | None) -> Select[Any]:
    """`query` over chats, newest `(updated_at, id)` first, from after `after`."""
    if after is not None:
        query = query.where(
            or_(
                chats.c.updated_at < after.updated_at,
                and_(chats.c.updated_at == after.updated_at, chats.c.id < after.chat_id),
            )
        )
    return query.order_by(chats.c.updated_at.desc(), chats.c.id.desc())


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


def _check_owner(connection: Connection, user_id: str, chat_id: str) -> None:
    found = connection.scalar(
        select(chats.c.id).where(chats.c.id == chat_id, chats.c.user_id == user_id)
    )
    if found is None:
        raise ChatNotFound(chat_id)


def _owned_chat(connection: Connection, user_id: str, chat_id: str) -> Chat:
    row = connection.execute(_OWNED_CHAT, {"chat": chat_id, "owner": user_id}).one_or_none()
    if row is None:
        raise ChatNotFound(chat_id)
    return chat_from(row)


def _messages(connection: Connection, chat_id: str) -> list[Message]:
    """The chat's whole history in order."""
    query = select(messages).where(messages.c.chat_id == chat_id).order_by(messages.c.position)
    return [message_from(row) for row in connection.execute(query)]


def _window(connection: Connection, chat_id: str) -> list[Message]:
    """The chat's window in order: its messages neither erased nor superseded."""
    return [message_from(row) for row in connection.execute(_WINDOW, {"chat": chat_id})]
