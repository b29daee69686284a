"""Durable chats (`ChatRepository`) and the records it takes and gives: a turn's claim, a stored
turn, a page's cursor, a chat's head, what a summary has yet to take in. Contract:
`tests/contract/test_chat_repository*.py`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from chatservice.domain.budgets import BudgetClaim
from chatservice.domain.chat import Chat, Message
from chatservice.domain.memory import ChatSummary
from chatservice.domain.turn import TurnRecord
from chatservice.domain.usage import GroupBy, PaidCall, UsageGroup


@dataclass(frozen=True)
class TurnClaim:
    """A turn's hold on its chat, by the turn's idempotency key (the caller's, or a new one)."""

    idempotency_key: str
    claimed_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class StoredTurn:
    """A committed turn: the reply, and the user message it answers (the turn's own, or for a
    regenerated reply the stored one it answered again)."""

    user_message: Message
    reply: Message


@dataclass(frozen=True)
class ChatCursor:
    """Where a page of a user's chats (newest first, by `(updated_at, id)`) left off."""

    updated_at: datetime
    chat_id: str


@dataclass(frozen=True)
class ErasedSinceSummary:
    """What a chat's summary has yet to take in: the chat (its summary, no messages) and its
    erased messages after the summary's `covers_through_position`, in order."""

    chat: Chat
    erased: tuple[Message, ...]


@dataclass(frozen=True)
class ChatHead:
    """A chat without its messages, and its latest message not superseded (by position, erased
    or not; `None` when it has none): whether a reply is still the chat's last word, read
    without its history."""

    chat: Chat
    latest: Message | None


class ChatRepository(Protocol):
    """Durable chats. A chat of another user is `ChatNotFound`: existence never leaks.

    Storage failures raise `StorageUnavailable`; a failed call changes nothing.
    """

    async def add_chat(self, chat: Chat) -> None:
        """Store a new chat with its messages (a fork's copies, or its system message alone).
        Raises `ConcurrentUpdate` (storing nothing) when a fork of the same chat with the same
        idempotency key is stored already."""

    async def claim_turn(self, user_id: str, chat_id: str, claim: TurnClaim) -> Chat:
        """Mark the chat busy with `claim` and return it with only its window: the messages
        neither erased nor superseded.

        Raises `ChatNotFound`, `ChatEnded`, or `TurnInProgress` (carrying the holder's
        idempotency key) when an unexpired claim is held.
        """

    async def claim_budget(self, claim: BudgetClaim) -> None:
        """Reserve `claim.reserve` for the turn it names against each of `claim.accounts`,
        unless `claim.refusal` finds one at a limit: then raise that `BudgetExhausted`,
        reserving nothing. What an account spent is its usage stored since each limit's period
        began plus the reserves of turns unexpired at `claim.now`, read in one atomic step with
        the reserving: claims on one account, from any replica, each see the reserves of those
        before them. Raises `ConcurrentUpdate` (reserving nothing) when other claims kept
        winning the account."""

    async def renew_turn(
        self, chat_id: str, idempotency_key: str, now: datetime, expires_at: datetime
    ) -> bool:
        """Hold the chat until `expires_at`, and the turn's budget reserves with it, provided
        the turn of `idempotency_key` still holds it unexpired at `now`; whether it did. For a
        turn that moves to a fallback model: each model it calls then has a whole claim's time
        (a provider's `turn_timeout` is shorter), and its reserves count for as long. A lapsed
        claim is not renewed: another turn may have taken the chat, or a claim on an account
        deleted the reserves, since."""

    async def release_turn(self, chat_id: str, idempotency_key: str) -> None:
        """Drop the claim if the turn of `idempotency_key` still holds it (otherwise leave the
        chat be), and the turn's budget reserves in any case."""

    async def commit_turn(self, turn: TurnRecord) -> None:
        """Store the turn atomically: its new messages, erasures, supersessions, usage, title,
        and its model call (`turn.call`, if any) in the usage ledger; bump the version and
        release the claim (`TurnRecord.applied_to` is the rule) and the turn's budget reserves.
        Raises `ConcurrentUpdate` (storing nothing) when the version moved or the claim is no
        longer this turn's."""

    async def find_turn(
        self, user_id: str, chat_id: str, idempotency_key: str
    ) -> StoredTurn | None:
        """The committed turn of `idempotency_key` in the chat, if any, whichever of its
        messages holds the key (the user message, or a regenerated reply)."""

    async def find_message(self, user_id: str, chat_id: str, message_id: str) -> Message | None:
        """The chat's message of that id, whatever its flags; `None` when the chat has none."""

    async def get_chat(self, user_id: str, chat_id: str) -> Chat:
        """The chat with its whole history, erased and superseded messages included."""

    async def get_chat_head(self, user_id: str, chat_id: str) -> ChatHead:
        """The chat without its messages, and its latest message not superseded. Reads that
        message alone, not the history: its cost follows neither the chat's length nor how
        many of its messages are erased or superseded."""

    async def list_messages(
        self, user_id: str, chat_id: str, limit: int, after: str | None, newest_first: bool
    ) -> list[Message]:
        """Up to `limit` of the chat's user and assistant messages that are not superseded
        (erased ones included: the conversation as it reads now), by position, the newest first
        when `newest_first`, from the one after the message `after` in that order when given.
        Reads a page's worth of messages, not the history: its cost follows `limit`, not the
        chat's length. Raises `ChatNotFound`, or `MessageNotFound` when `after` is not one of
        those messages of the chat."""

    async def get_settled_chat(self, user_id: str, chat_id: str, now: datetime) -> Chat:
        """The chat with its whole history, as `get_chat`, provided no turn holds it: raises
        `TurnInProgress` (with the holder's idempotency key) while a claim unexpired at `now`
        does, for a reader that must not copy a history a turn is about to change."""

    async def find_fork(self, user_id: str, chat_id: str, idempotency_key: str) -> Chat | None:
        """The user's chat forked from `chat_id` under `idempotency_key`, with its whole
        history, if there is one (even once `chat_id` is deleted)."""

    async def list_chats(self, user_id: str, limit: int, after: ChatCursor | None) -> list[Chat]:
        """Up to `limit` chats without messages, newest `(updated_at, id)` first, after `after`."""

    async def search_chats(
        self, user_id: str, words: Sequence[str], limit: int, after: ChatCursor | None
    ) -> list[Chat]:
        """Up to `limit` of the user's chats, without messages, that have a user or assistant
        message holding every one of `words` (as `search_words` finds them), newest
        `(updated_at, id)` first, after `after`. Its cost follows the user's matches, not the
        number of messages stored."""

    async def list_chat_ids(self, user_id: str, limit: int, after: str | None) -> list[str]:
        """Up to `limit` ids of the user's chats in id order, those above `after` when given:
        a walk over every chat that no turn reorders meanwhile."""

    async def end_chat(self, user_id: str, chat_id: str, now: datetime) -> Chat:
        """Mark the chat ended (idempotent) and return it with its whole history."""

    async def delete_chat(self, user_id: str, chat_id: str) -> None:
        """Remove the chat and all its messages for good."""

    async def erased_since_summary(self, user_id: str, chat_id: str) -> ErasedSinceSummary:
        """The chat without its messages, with its summary, and its erased messages the summary
        does not cover (every erased one when it has none). Reads those messages only."""

    async def store_summary(
        self, user_id: str, chat_id: str, summary: ChatSummary, call: PaidCall
    ) -> None:
        """Make `summary` the chat's, provided the stored one is still the version it was
        written from (`summary.version - 1`; 0: none yet), add `call.usage`, what writing it
        cost, to the chat's usage, and record `call` in the usage ledger. Neither the chat's
        version nor a turn's claim is touched: a summary never stands in a turn's way. Raises
        `ChatNotFound`, or `ConcurrentUpdate` (storing nothing) when another summary was stored
        first."""

    async def delete_user_chats(self, user_id: str, limit: int) -> int:
        """Remove up to `limit` of the user's chats with everything of theirs, in one short
        transaction; return how many went (fewer than `limit`: none is left)."""

    async def delete_user_usage(self, user_id: str, limit: int) -> int:
        """Remove up to `limit` of the user's model calls from the usage ledger (with their
        charges), in one short transaction; return how many went (fewer than `limit`: none is
        left). Deleting chats never does: what a chat cost stays spent."""

    async def usage_report(
        self, user_id: str, first_day: date, last_day: date, group_by: GroupBy
    ) -> list[UsageGroup]:
        """The user's calls in the usage ledger from `first_day` to `last_day` (UTC days, both
        included), summed by day or by model, in the order of their keys; a day or model
        without calls has no group. Reads the user's calls of those days alone."""

    async def delete_chats_updated_before(self, before: datetime, now: datetime, limit: int) -> int:
        """Remove up to `limit` chats last updated before `before` with everything of theirs,
        in one short transaction, passing over any a turn holds at `now`; return how many this
        call removed (a chat removed by a concurrent call counts there, not here)."""

    async def count_chats_updated_before(self, before: datetime, now: datetime) -> int:
        """How many chats `delete_chats_updated_before` would remove, all batches together."""

    async def ping(self) -> None:
        """Raise `StorageUnavailable` unless the store answers."""
