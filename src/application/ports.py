"""The ports the use cases need. Adapters implement them; `tests/contract` holds each one to it."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from chatservice.domain.budgets import BudgetClaim
from chatservice.domain.chat import Chat, ChatParams, Message, Usage
from chatservice.domain.memory import ChatSummary
from chatservice.domain.models import ModelSpec
from chatservice.domain.responses import ConversationRecord, ResponseRecord
from chatservice.domain.turn import TurnRecord
from chatservice.domain.usage import GroupBy, PaidCall, UsageGroup


@dataclass(frozen=True)
class PromptMessage:
    role: str
    content: str


@dataclass(frozen=True)
class CompletionRequest:
    model: ModelSpec
    messages: tuple[PromptMessage, ...]
    params: ChatParams
    #: The trace id of the request the turn serves (`current_trace_id`), for the provider's
    #: logs; `None` for a turn no transport started. Never the caller's idempotency key.
    trace_id: str | None = None
    #: The model whose failure before its first text this request stands in for (a fallback);
    #: `None` for the chat's own model.
    fallback_from: str | None = None


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class CompletionEnd:
    """The last event of a completion. `usage` is `None` when the provider reported none.

    `cached_prompt_tokens`: how many of `usage.prompt_tokens` the provider read from its prompt
    cache (priced lower than the rest); 0 when none were, or the provider does not say."""

    finish_reason: str
    usage: Usage | None
    cached_prompt_tokens: int = 0


class ChatGateway(Protocol):
    """A language model behind some provider.

    `stream` yields `TextDelta`s, then exactly one `CompletionEnd`. A stream that stops without its
    `CompletionEnd` raises `ProviderUnavailable`; provider failures raise the `Provider*` domain
    errors (or `MessageTooLong` when the provider finds the prompt too long). Closing the iterator
    early (`aclose`, or cancelling its consumer) cancels the upstream request.
    """

    def stream(
        self, request: CompletionRequest
    ) -> AsyncGenerator[TextDelta | CompletionEnd, None]: ...


class TokenCounter(Protocol):
    """Counts tokens offline, byte-exact for the named encoding; special tokens are plain text."""

    def count(self, encoding: str, text: str) -> int: ...

    def message_cost(
        self, encoding: str, role: str, content: str, name: str | None = None
    ) -> int: ...


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


class WhatsAppDirectory(Protocol):
    """Which chat each WhatsApp sender is in, and which inbound messages were already taken.

    A sender has at most one current chat, and that rule is kept by the store itself (a unique
    guard), so two replicas answering the same sender at once cannot give them two. Storage
    failures raise `StorageUnavailable`.
    """

    async def take_message(self, message_sid: str, sender: str, received_at: datetime) -> bool:
        """Record an inbound message; `True` the first time its sid is seen, `False` for a
        redelivery (Twilio retries the same message with the same sid)."""

    async def current_chat(self, sender: str) -> str | None:
        """The id of the sender's current chat, if they have one."""

    async def switch_chat(
        self, sender: str, expected: str | None, chat_id: str, now: datetime
    ) -> str:
        """Make `chat_id` the sender's current chat provided their current one is still
        `expected`, or they have none (`expected` is `None`, or their chat was deleted). Return
        the sender's current chat afterwards: `chat_id`, or the one another request put there
        first."""

    async def forget_sender(self, sender: str, limit: int) -> int:
        """Remove the sender's current-chat row and up to `limit` of their inbound-message
        records, in one short transaction; return how many rows went (0: nothing is left)."""

    async def prune_messages(self, before: datetime, limit: int) -> int:
        """Remove up to `limit` inbound-message records received before `before` (Twilio
        retries within minutes, so old ones guard nothing); return how many this call removed."""

    async def count_messages_before(self, before: datetime) -> int:
        """How many records `prune_messages` would remove, all batches together."""


class Leases(Protocol):
    """Named leases that one holder at a time has until they expire, across every replica that
    shares the store: who does a job that must not run twice at once."""

    async def acquire(self, name: str, holder: str, now: datetime, ttl_seconds: float) -> bool:
        """Hold `name` until `now + ttl_seconds` and return `True` if it is free, expired at
        `now`, or held by `holder` already (a renewal); otherwise `False`, changing nothing."""


class ResponseStore(Protocol):
    """The records of the OpenAI surface's responses and conversations, beside their chats.

    A record of another user is not found: existence never leaks. A record goes with its chat
    (deleting the chat deletes its records). Storage failures raise `StorageUnavailable`.
    """

    async def add_response(self, record: ResponseRecord) -> None:
        """Store a new response's record (its chat is stored already)."""

    async def find_response(self, user_id: str, response_id: str) -> ResponseRecord | None:
        """The user's response of that id, if there is one."""

    async def delete_response(self, user_id: str, response_id: str) -> bool:
        """Remove the user's response of that id; `False` when there was none."""

    async def put_conversation(self, record: ConversationRecord) -> None:
        """Store a conversation's record (its chat is stored already), replacing any it had."""

    async def find_conversation(self, user_id: str, chat_id: str) -> ConversationRecord | None:
        """The record of the user's conversation on that chat, if it has one."""


class MessageNotSent(Exception):
    """An outbound message did not go out. `retryable` says whether trying again may help (the
    network, a rate limit, the provider's own failure) or not (a refused number, bad
    credentials). The message never quotes the text that was to be sent."""

    def __init__(self, reason: str, retryable: bool) -> None:
        super().__init__(reason)
        self.retryable = retryable


class OutboundMessenger(Protocol):
    """Sends a text message to a person outside any request (WhatsApp through Twilio)."""

    async def send(self, sender: str, recipient: str, body: str) -> None:
        """Send `body` from our address `sender` to `recipient`. Raises `MessageNotSent`."""
