"""`InMemoryChatRepository`: the `ChatRepository` contract kept in a dict.

For unit tests and experiments only: nothing survives the process, and a lock stands in for the
database's transactions. It passes the same contract suite as the SQL repository. The usage
ledger and the budget reserves are `ledger.py`'s.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime

from chatservice.adapters.memory_repository.ledger import BudgetReserves, UsageLedger
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
    MessageNotFound,
    TurnInProgress,
)
from chatservice.domain.memory import ChatSummary
from chatservice.domain.search import search_words
from chatservice.domain.turn import TurnRecord
from chatservice.domain.usage import GroupBy, PaidCall, UsageGroup


class InMemoryChatRepository:
    def __init__(self) -> None:
        self._chats: dict[str, Chat] = {}
        self._claims: dict[str, TurnClaim] = {}
        self._ledger = UsageLedger()
        self._reserves = BudgetReserves(self._ledger)
        self._lock = asyncio.Lock()

    def _owned(self, user_id: str, chat_id: str) -> Chat:
        chat = self._chats.get(chat_id)
        if chat is None or chat.user_id != user_id:
            raise ChatNotFound(chat_id)
        return chat

    async def add_chat(self, chat: Chat) -> None:
        async with self._lock:
            origin = chat.forked_from
            key = origin.idempotency_key if origin else None
            if origin and key and self._fork(origin.chat_id, key) is not None:
                raise ConcurrentUpdate(chat.id)
            self._chats[chat.id] = copy.deepcopy(chat)

    def _fork(self, chat_id: str, idempotency_key: str) -> Chat | None:
        return next(
            (
                chat
                for chat in self._chats.values()
                if chat.forked_from is not None
                and (chat.forked_from.chat_id, chat.forked_from.idempotency_key)
                == (chat_id, idempotency_key)
            ),
            None,
        )

    async def claim_turn(self, user_id: str, chat_id: str, claim: TurnClaim) -> Chat:
        async with self._lock:
            chat = self._owned(user_id, chat_id)
            if chat.status is ChatStatus.ENDED:
                raise ChatEnded(chat_id)
            held = self._claims.get(chat_id)
            if held is not None and held.expires_at > claim.claimed_at:
                raise TurnInProgress(chat_id, held.idempotency_key)
            self._claims[chat_id] = claim
            window = copy.deepcopy(chat)
            window.messages = [m for m in window.messages if m.in_window]
            return window

    async def claim_budget(self, claim: BudgetClaim) -> None:
        async with self._lock:
            self._reserves.claim(claim)

    async def renew_turn(
        self, chat_id: str, idempotency_key: str, now: datetime, expires_at: datetime
    ) -> bool:
        async with self._lock:
            held = self._claims.get(chat_id)
            if held is None or held.idempotency_key != idempotency_key or held.expires_at <= now:
                return False
            self._claims[chat_id] = replace(held, expires_at=expires_at)
            self._reserves.renew(chat_id, idempotency_key, expires_at)
            return True

    async def release_turn(self, chat_id: str, idempotency_key: str) -> None:
        async with self._lock:
            held = self._claims.get(chat_id)
            if held is not None and held.idempotency_key == idempotency_key:
                del self._claims[chat_id]
            self._reserves.release(chat_id, idempotency_key)

    async def commit_turn(self, turn: TurnRecord) -> None:
        async with self._lock:
            chat = self._chats.get(turn.chat_id)
            held = self._claims.get(turn.chat_id)
            if (
                chat is None
                or chat.version != turn.expected_version
                or held is None
                or held.idempotency_key != turn.idempotency_key
            ):
                raise ConcurrentUpdate(turn.chat_id)
            self._chats[turn.chat_id] = turn.applied_to(chat)
            del self._claims[turn.chat_id]
            if turn.call is not None:
                self._ledger.record(turn.user_id, turn.chat_id, turn.call)
            self._reserves.release(turn.chat_id, turn.idempotency_key)

    async def find_turn(
        self, user_id: str, chat_id: str, idempotency_key: str
    ) -> StoredTurn | None:
        async with self._lock:
            messages = self._owned(user_id, chat_id).messages
            for index, message in enumerate(messages):
                if message.idempotency_key != idempotency_key:
                    continue
                if message.role is Role.USER:
                    return StoredTurn(message, messages[index + 1])
                # A regenerated reply: the question it answered is the nearest one before it.
                question = next(m for m in reversed(messages[:index]) if m.role is Role.USER)
                return StoredTurn(question, message)
            return None

    async def find_message(self, user_id: str, chat_id: str, message_id: str) -> Message | None:
        async with self._lock:
            messages = self._owned(user_id, chat_id).messages
            return next((m for m in messages if m.id == message_id), None)

    async def get_chat(self, user_id: str, chat_id: str) -> Chat:
        async with self._lock:
            return copy.deepcopy(self._owned(user_id, chat_id))

    async def get_chat_head(self, user_id: str, chat_id: str) -> ChatHead:
        async with self._lock:
            chat = self._owned(user_id, chat_id)
            latest = max(
                (m for m in chat.messages if not m.superseded),
                key=lambda m: m.position,
                default=None,
            )
            return ChatHead(copy.deepcopy(replace(chat, messages=[])), latest)

    async def list_messages(
        self, user_id: str, chat_id: str, limit: int, after: str | None, newest_first: bool
    ) -> list[Message]:
        async with self._lock:
            chat = self._owned(user_id, chat_id)
            course = [m for m in chat.messages if m.role is not Role.SYSTEM and not m.superseded]
            if newest_first:
                course.reverse()
            if after is not None:
                index = next((i for i, m in enumerate(course) if m.id == after), None)
                if index is None:
                    raise MessageNotFound(after)
                course = course[index + 1 :]
            return copy.deepcopy(course[:limit])

    async def get_settled_chat(self, user_id: str, chat_id: str, now: datetime) -> Chat:
        async with self._lock:
            chat = self._owned(user_id, chat_id)
            held = self._claims.get(chat_id)
            if held is not None and held.expires_at > now:
                raise TurnInProgress(chat_id, held.idempotency_key)
            return copy.deepcopy(chat)

    async def find_fork(self, user_id: str, chat_id: str, idempotency_key: str) -> Chat | None:
        async with self._lock:
            fork = self._fork(chat_id, idempotency_key)
            if fork is None or fork.user_id != user_id:
                return None
            return copy.deepcopy(fork)

    async def list_chats(self, user_id: str, limit: int, after: ChatCursor | None) -> list[Chat]:
        async with self._lock:
            mine = [c for c in self._chats.values() if c.user_id == user_id]
            mine.sort(key=lambda c: (c.updated_at, c.id), reverse=True)
            if after is not None:
                mine = [c for c in mine if (c.updated_at, c.id) < (after.updated_at, after.chat_id)]
            return [replace(c, messages=[]) for c in mine[:limit]]

    async def search_chats(
        self, user_id: str, words: Sequence[str], limit: int, after: ChatCursor | None
    ) -> list[Chat]:
        def matches(chat: Chat) -> bool:
            return any(
                m.role is not Role.SYSTEM and set(words) <= set(search_words(m.content))
                for m in chat.messages
            )

        async with self._lock:
            found = [c for c in self._chats.values() if c.user_id == user_id and matches(c)]
        found.sort(key=lambda c: (c.updated_at, c.id), reverse=True)
        if after is not None:
            found = [c for c in found if (c.updated_at, c.id) < (after.updated_at, after.chat_id)]
        return [replace(c, messages=[]) for c in found[:limit]]

    async def list_chat_ids(self, user_id: str, limit: int, after: str | None) -> list[str]:
        async with self._lock:
            mine = sorted(c.id for c in self._chats.values() if c.user_id == user_id)
            return [i for i in mine if after is None or i > after][:limit]

    async def end_chat(self, user_id: str, chat_id: str, now: datetime) -> Chat:
        async with self._lock:
            chat = self._owned(user_id, chat_id)
            if chat.status is not ChatStatus.ENDED:
                chat.status = ChatStatus.ENDED
                chat.updated_at = now
                chat.version += 1
            return copy.deepcopy(chat)

    async def delete_chat(self, user_id: str, chat_id: str) -> None:
        async with self._lock:
            self._owned(user_id, chat_id)
            del self._chats[chat_id]
            self._claims.pop(chat_id, None)

    async def erased_since_summary(self, user_id: str, chat_id: str) -> ErasedSinceSummary:
        async with self._lock:
            chat = self._owned(user_id, chat_id)
            after = chat.summary.covers_through_position if chat.summary else 0
            erased = tuple(m for m in chat.messages if m.erased and m.position > after)
            return ErasedSinceSummary(copy.deepcopy(replace(chat, messages=[])), erased)

    async def store_summary(
        self, user_id: str, chat_id: str, summary: ChatSummary, call: PaidCall
    ) -> None:
        async with self._lock:
            chat = self._owned(user_id, chat_id)
            stored = chat.summary.version if chat.summary else 0
            if stored != summary.version - 1:
                raise ConcurrentUpdate(chat_id)
            chat.summary = summary
            chat.usage += call.usage
            self._ledger.record(user_id, chat_id, call)

    async def delete_user_chats(self, user_id: str, limit: int) -> int:
        async with self._lock:
            return self._delete(
                [c.id for c in self._chats.values() if c.user_id == user_id][:limit]
            )

    async def delete_user_usage(self, user_id: str, limit: int) -> int:
        async with self._lock:
            return self._ledger.delete_user_calls(user_id, limit)

    async def usage_report(
        self, user_id: str, first_day: date, last_day: date, group_by: GroupBy
    ) -> list[UsageGroup]:
        async with self._lock:
            return self._ledger.report(user_id, first_day, last_day, group_by)

    async def delete_chats_updated_before(self, before: datetime, now: datetime, limit: int) -> int:
        async with self._lock:
            return self._delete(self._expired(before, now)[:limit])

    async def count_chats_updated_before(self, before: datetime, now: datetime) -> int:
        async with self._lock:
            return len(self._expired(before, now))

    def _expired(self, before: datetime, now: datetime) -> list[str]:
        def held(chat_id: str) -> bool:
            claim = self._claims.get(chat_id)
            return claim is not None and claim.expires_at > now

        return [c.id for c in self._chats.values() if c.updated_at < before and not held(c.id)]

    def _delete(self, chat_ids: list[str]) -> int:
        for chat_id in chat_ids:
            del self._chats[chat_id]
            self._claims.pop(chat_id, None)
        return len(chat_ids)

    async def ping(self) -> None:
        return None
