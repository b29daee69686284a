"""`SqlAlchemyChatRepository`: the `ChatRepository` port over SQLAlchemy Core (async).

Every method is one short transaction, run as one synchronous function (`Transactions.run`) that
calls the SQL kept beside this class, a module a concern, as plain functions on its `Connection`:
`turns.py` (a turn's claim, commit and release), `chat_lifecycle.py` (storing, forking, ending a
chat), `chat_reads.py` and `chat_lists.py`, `message_pages.py`, `summaries.py`, `search.py`,
`usage.py` (the usage ledger), `budgets.py`, and `removal.py` (deletion, erasure, retention).
This class keeps what the transactions share, the replica's `WindowCache` (a turn's claim reads
nothing when it holds the chat at its current version), and decides what a lost write becomes.
Connection failures become `StorageUnavailable`. A write that loses to another transaction on
the same rows (a deadlock; on Galera, another node's write-set winning certification) becomes
what the loss means: a claim that lost is `TurnInProgress`, a commit that lost is
`ConcurrentUpdate`; adding, ending and deleting a chat and releasing a claim run once more, then
are `ConcurrentUpdate` (docs/reliability.md). A budget claim (`budgets.py`) runs again after
random pauses that grow, as claims on one account through two Galera nodes keep conflicting.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import Connection, exc, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import Select

from chatservice.adapters.sqlalchemy import (
    budgets,
    chat_lifecycle,
    chat_lists,
    chat_reads,
    message_pages,
    removal,
    summaries,
    turns,
    usage,
)
from chatservice.adapters.sqlalchemy.tables import chats
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
from chatservice.domain.chat import Chat, Message
from chatservice.domain.errors import ConcurrentUpdate, TurnInProgress
from chatservice.domain.memory import ChatSummary, Memory
from chatservice.domain.turn import TurnRecord
from chatservice.domain.usage import GroupBy, PaidCall, UsageGroup

P = ParamSpec("P")
T = TypeVar("T")

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
            chat_lifecycle.add(connection, chat)

        try:
            await self._transactions.run(add, write=True, attempts=_IDEMPOTENT_ATTEMPTS)
        except (exc.IntegrityError, WriteConflict) as error:
            # Lost to another transaction, or to a fork stored first under the same key.
            raise ConcurrentUpdate(chat.id) from error
        self._windows.put(chat)

    async def claim_turn(self, user_id: str, chat_id: str, claim: TurnClaim) -> Chat:
        def claim_and_read(connection: Connection) -> tuple[Chat, bool]:
            """The claimed chat with its window, and whether it was read (not the cached copy)."""
            cached = self._windows.get(chat_id)
            if cached is not None and turns.claim_at_version(
                connection, user_id, chat_id, claim, cached.version
            ):
                if cached.memory is Memory.SUMMARY:
                    # Stored beside the chat without moving its version: read afresh.
                    cached.summary = summaries.read_summary(connection, chat_id)
                return cached, False
            return turns.claim(connection, user_id, chat_id, claim), True

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

    async def renew_turn(
        self, chat_id: str, idempotency_key: str, now: datetime, expires_at: datetime
    ) -> bool:
        def renew(connection: Connection) -> bool:
            return turns.renew(connection, chat_id, idempotency_key, now, expires_at)

        try:
            return await self._transactions.run(renew, write=True, attempts=_IDEMPOTENT_ATTEMPTS)
        except WriteConflict as error:
            raise ConcurrentUpdate(chat_id) from error

    async def release_turn(self, chat_id: str, idempotency_key: str) -> None:
        def release(connection: Connection) -> None:
            turns.release(connection, chat_id, idempotency_key)

        try:
            await self._transactions.run(release, write=True, attempts=_IDEMPOTENT_ATTEMPTS)
        except WriteConflict as error:
            raise ConcurrentUpdate(chat_id) from error

    async def commit_turn(self, turn: TurnRecord) -> None:
        def commit(connection: Connection) -> None:
            turns.commit(connection, turn)

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

        # A claim that lost its account's lock row to another (another Galera node's, or the
        # account's first claim, which made the row first) runs again from the lock, reading
        # causally, after growing random pauses.
        try:
            await self._transactions.run(
                reserve,
                write=True,
                attempts=len(budgets.CONFLICT_PAUSES) + 1,
                pauses=budgets.CONFLICT_PAUSES,
            )
        except (exc.IntegrityError, WriteConflict) as error:
            raise ConcurrentUpdate(
                claim.chat_id,
                message="too many turns claimed this budget at once; retry the message",
            ) from error

    async def find_turn(
        self, user_id: str, chat_id: str, idempotency_key: str
    ) -> StoredTurn | None:
        return await self._read(chat_reads.find_turn, user_id, chat_id, idempotency_key)

    async def find_message(self, user_id: str, chat_id: str, message_id: str) -> Message | None:
        return await self._read(chat_reads.find_message, user_id, chat_id, message_id)

    async def get_chat(self, user_id: str, chat_id: str) -> Chat:
        return await self._read(chat_reads.whole_chat, user_id, chat_id)

    async def get_chat_head(self, user_id: str, chat_id: str) -> ChatHead:
        return await self._read(chat_reads.head, user_id, chat_id)

    async def list_messages(
        self, user_id: str, chat_id: str, limit: int, after: str | None, newest_first: bool
    ) -> list[Message]:
        def read(connection: Connection) -> list[Message]:
            chat_reads.check_owner(connection, user_id, chat_id)
            return message_pages.page(connection, chat_id, limit, after, newest_first)

        return await self._transactions.run(read, write=False)

    async def get_settled_chat(self, user_id: str, chat_id: str, now: datetime) -> Chat:
        return await self._read(chat_reads.settled_chat, user_id, chat_id, now)

    async def find_fork(self, user_id: str, chat_id: str, idempotency_key: str) -> Chat | None:
        return await self._read(chat_lifecycle.find_fork, user_id, chat_id, idempotency_key)

    async def list_chats(self, user_id: str, limit: int, after: ChatCursor | None) -> list[Chat]:
        return await self._read(chat_lists.list_chats, user_id, limit, after)

    async def search_chats(
        self, user_id: str, words: Sequence[str], limit: int, after: ChatCursor | None
    ) -> list[Chat]:
        return await self._read(
            chat_lists.search_chats, self._dialect, user_id, words, limit, after
        )

    async def list_chat_ids(self, user_id: str, limit: int, after: str | None) -> list[str]:
        return await self._read(chat_lists.list_chat_ids, user_id, limit, after)

    async def end_chat(self, user_id: str, chat_id: str, now: datetime) -> Chat:
        def end(connection: Connection) -> Chat:
            return chat_lifecycle.end(connection, user_id, chat_id, now)

        self._windows.forget(chat_id)
        try:
            return await self._transactions.run(end, write=True, attempts=_IDEMPOTENT_ATTEMPTS)
        except WriteConflict as error:
            raise ConcurrentUpdate(chat_id) from error

    async def delete_chat(self, user_id: str, chat_id: str) -> None:
        def delete_all(connection: Connection) -> None:
            removal.remove_owned_chat(connection, user_id, chat_id)

        try:
            await self._transactions.run(delete_all, write=True, attempts=_IDEMPOTENT_ATTEMPTS)
        except WriteConflict as error:
            raise ConcurrentUpdate(chat_id) from error
        self._windows.forget(chat_id)

    async def erased_since_summary(self, user_id: str, chat_id: str) -> ErasedSinceSummary:
        return await self._read(chat_reads.erased_since_summary, user_id, chat_id)

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
        return await self._delete_chats(removal.chats_of(user_id), limit)

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
        return await self._read(usage.report, user_id, first_day, last_day, group_by)

    async def delete_chats_updated_before(self, before: datetime, now: datetime, limit: int) -> int:
        return await self._delete_chats(removal.chats_updated_before(before, now), limit)

    async def count_chats_updated_before(self, before: datetime, now: datetime) -> int:
        return await self._read(removal.count_updated_before, before, now)

    async def _delete_chats(self, chosen: Select[Any], limit: int) -> int:
        """Delete up to `limit` of the chats `chosen` selects, in one transaction; how many
        this transaction deleted."""
        deleted: list[str] = []

        def delete_batch(connection: Connection) -> int:
            deleted[:] = connection.scalars(chosen.limit(limit))
            return removal.remove_chats(connection, deleted)

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

    async def _read(
        self, read: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """`read(connection, *args)` in one read-only transaction."""
        return await self._transactions.run(
            lambda connection: read(connection, *args, **kwargs), write=False
        )
