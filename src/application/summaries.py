"""Memory of what the window erased: a chat's running summary of its erased exchanges.

A chat that keeps one (`Memory.SUMMARY`) has it in every later prompt, right after the system
message (`summary_message`, `in_prompt`), its cost counted by the window rule. After a turn that
erased exchanges commits, `SummaryAfterErasure` (the turn's `after_commit`) has
`FoldErasedIntoSummary` fold them in as background work, never in the way of the next turn.
The fold takes in every erased message the stored summary does not cover yet, so a fold that
failed leaves its messages to the next one: none is ever skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field, replace
from typing import Protocol

from chatservice.application.background import BackgroundWork
from chatservice.application.clock import Clock, utc_now
from chatservice.application.observability import current_trace_id
from chatservice.application.ports import (
    ChatGateway,
    ChatRepository,
    CompletionEnd,
    CompletionRequest,
    PromptMessage,
    TextDelta,
    TokenCounter,
)
from chatservice.domain.chat import Chat, ChatParams, Fit, Message, Role, Usage
from chatservice.domain.errors import ChatServiceError, ProviderUnavailable
from chatservice.domain.memory import ChatSummary, Memory
from chatservice.domain.models import ModelRegistry, ModelSpec
from chatservice.domain.tenants import Tenants
from chatservice.domain.tokens import prompt_cost
from chatservice.domain.turn import TurnRecord
from chatservice.domain.usage import CallKind, PaidCall

log = logging.getLogger(__name__)

#: The summary call's system message: what to keep, and in what form.
SUMMARY_INSTRUCTIONS = (
    "You keep the running summary of a conversation whose oldest messages no longer fit in the "
    "model's context window. Fold the messages given into the summary so far and answer with "
    "the updated summary alone. Keep every fact, name, number, date, decision and open "
    "question; drop pleasantries and repetition. Write short plain sentences or bullet points, "
    "in the conversation's language."
)
#: What the summary carries in a prompt before its text, so the model knows what it reads.
SUMMARY_HEADING = "Summary of the earlier conversation, whose messages no longer fit:\n"
#: How a summary call's user message marks what it holds (the fake model reads them too).
SUMMARY_SO_FAR = "The summary so far:\n"
NO_SUMMARY_YET = "(none yet)"
MESSAGES_TO_FOLD = "The messages to fold in, oldest first:\n"
#: The fewest tokens of erased messages one summary call takes in.
MIN_FOLD_ROOM = 256


def summary_message(summary: ChatSummary) -> Message:
    """The summary as the system message a prompt carries it in; `tokens` is its stored cost."""
    return Message(
        "summary",
        Role.SYSTEM,
        SUMMARY_HEADING + summary.content,
        summary.tokens,
        0,
        summary.updated_at,
    )


def in_prompt(fit: Fit, summary: Message | None) -> tuple[Message, ...]:
    """A fitted window's messages as the prompt sends them: the summary, where it fit, right
    after the system message."""
    if summary is None or not fit.with_summary:
        return fit.kept
    return (fit.kept[0], summary, *fit.kept[1:])


def message_line(message: Message) -> str:
    """A message as a summary call lists it."""
    return f"[message {message.position}, {message.role.value}] {message.content}"


def summary_request_text(previous: ChatSummary | None, batch: Sequence[Message], bound: int) -> str:
    """The summary call's user message: the summary so far, then the messages to fold in."""
    so_far = previous.content if previous is not None else NO_SUMMARY_YET
    lines = "\n".join(message_line(m) for m in batch)
    return (
        f"{SUMMARY_SO_FAR}{so_far}\n\n{MESSAGES_TO_FOLD}{lines}\n\n"
        f"Answer with the updated summary, in at most {bound} tokens."
    )


@dataclass(frozen=True)
class SummaryLimits:
    """The settings' `summary_model` (None: each chat's own model) and `summary_max_tokens`."""

    model: str | None
    max_tokens: int


def check_summary_model(registry: ModelRegistry, limits: SummaryLimits) -> None:
    """Fail at start-up, not at the first summary, on a `summary_model` nobody serves: the
    settings alone, without building the fold (its gateways, its database)."""
    if limits.model is not None:
        registry.servable(limits.model)


@dataclass(frozen=True)
class FoldReport:
    """A fold that ended: `outcome` is `stored`, `nothing_to_fold`, or the code of the error
    that stopped it; `calls`, the summary calls it stored, by `model`, at a cost of `usage`."""

    outcome: str
    calls: int = 0
    model: str | None = None
    usage: Usage = field(default_factory=Usage)


class SummaryObserver(Protocol):
    """Listens to folds (for metrics), from `SummaryAfterErasure`."""

    def fold_ended(self, report: FoldReport) -> None: ...


class FoldErasedIntoSummary:
    """Fold a chat's erased messages its summary does not cover yet into it."""

    def __init__(
        self,
        repository: ChatRepository,
        gateway: ChatGateway,
        counter: TokenCounter,
        registry: ModelRegistry,
        limits: SummaryLimits,
        tenants: Tenants,
        clock: Clock = utc_now,
    ) -> None:
        """`tenants`: the scoped tokens each summary call is charged to, those covering the
        chat's user."""
        self._repository = repository
        self._gateway = gateway
        self._counter = counter
        self._registry = registry
        self._limits = limits
        self._tenants = tenants
        self._clock = clock

    async def __call__(self, user_id: str, chat_id: str) -> FoldReport:
        """Bring the chat's summary up to its last erased message, in as many calls as the
        summary model's window needs, each stored as soon as it is written (a failure loses
        only the call under way). Nothing to do for a chat that keeps no summary.

        Raises `ChatNotFound`, `ConcurrentUpdate` (another fold stored first), and the
        `Provider*` and storage errors."""
        pending = await self._repository.erased_since_summary(user_id, chat_id)
        chat = pending.chat
        if chat.memory is not Memory.SUMMARY or not pending.erased:
            return FoldReport("nothing_to_fold")
        model = self._registry.servable(self._limits.model or chat.model)
        counting = self._registry.lookup(chat.model).encoding
        summary = chat.summary
        charged_to = tuple(t.name for t in self._tenants.covering(user_id))
        calls, cost = 0, Usage()
        for batch in self._batches(model, summary, pending.erased):
            text, usage = await self._write(model, summary, batch)
            summary = ChatSummary(
                text,
                self._counter.message_cost(counting, Role.SYSTEM, SUMMARY_HEADING + text),
                batch[-1].position,
                self._clock(),
                summary.version + 1 if summary is not None else 1,
            )
            call = PaidCall(CallKind.SUMMARY, model.name, summary.updated_at, usage, charged_to)
            await self._repository.store_summary(user_id, chat_id, summary, call)
            calls, cost = calls + 1, cost + usage
        return FoldReport("stored", calls, model.name, cost)

    def _bound(self, model: ModelSpec) -> int:
        return min(self._limits.max_tokens, model.max_output)

    def _batches(
        self, model: ModelSpec, previous: ChatSummary | None, erased: Sequence[Message]
    ) -> Iterator[list[Message]]:
        """`erased` in runs the summary model's window takes with the instructions, a summary
        as long as the bound (the one so far, or the one the last run writes) and the reply."""
        bound = self._bound(model)
        fixed = prompt_cost(
            [
                self._counter.message_cost(model.encoding, Role.SYSTEM, SUMMARY_INSTRUCTIONS),
                self._counter.message_cost(
                    model.encoding, Role.USER, summary_request_text(None, [], bound)
                ),
            ]
        )
        so_far = previous.tokens if previous is not None else 0
        # Never less than a floor: a window too small for the bound (a misfit `summary_model`)
        # must still see each message whole enough to name it.
        room = max(model.context_window - bound - fixed - max(so_far, bound), MIN_FOLD_ROOM)
        batch: list[Message] = []
        used = 0
        for message in erased:
            cost = self._counter.count(model.encoding, message_line(message)) + 1
            if batch and used + cost > room:
                yield batch
                batch, used = [], 0
            batch.append(self._cut(model, message, room))
            used += cost
        if batch:
            yield batch

    def _cut(self, model: ModelSpec, message: Message, room: int) -> Message:
        """`message`, its text shortened to what a call can take alongside the rest (a message
        that fit the chat's window may not fit a smaller summary model's)."""
        content = message.content
        while content and self._counter.count(model.encoding, message_line(message)) > room:
            content = content[: len(content) * 9 // 10]
            message = replace(message, content=content)
        return message

    async def _write(
        self, model: ModelSpec, previous: ChatSummary | None, batch: Sequence[Message]
    ) -> tuple[str, Usage]:
        """The summary the model writes of `previous` and `batch`, and what it cost."""
        request = CompletionRequest(
            model,
            (
                PromptMessage(Role.SYSTEM, SUMMARY_INSTRUCTIONS),
                PromptMessage(Role.USER, summary_request_text(previous, batch, self._bound(model))),
            ),
            ChatParams(max_completion_tokens=self._bound(model)),
            # The erasing turn's: the fold's task started in its context.
            current_trace_id.get(),
        )
        parts: list[str] = []
        end: CompletionEnd | None = None
        async with aclosing(self._gateway.stream(request)) as events:
            async for event in events:
                if isinstance(event, TextDelta):
                    parts.append(event.text)
                else:
                    end = event
        text = "".join(parts).strip()
        if end is None or not text:
            raise ProviderUnavailable("the summary model returned no summary")
        if end.usage is not None:
            return text, end.usage.priced(model.prices, end.cached_prompt_tokens)
        prompt = prompt_cost(
            self._counter.message_cost(model.encoding, m.role, m.content) for m in request.messages
        )
        return text, Usage(prompt, self._counter.count(model.encoding, text)).priced(model.prices)


class SummaryAfterErasure:
    """A turn's `after_commit`: when a committed turn erased exchanges of a chat that keeps a
    summary, fold them in as background work (drained on shutdown), so the turn's caller and
    the next turn never wait for it.

    One fold per chat at a time in this process: a turn that erases while one runs has it run
    once more when it ends, taking in everything erased by then. A fold that fails is logged,
    and its messages wait for the next one."""

    def __init__(
        self, fold: FoldErasedIntoSummary, work: BackgroundWork, observer: SummaryObserver
    ) -> None:
        self._fold = fold
        self._work = work
        self._observer = observer
        self._folding: set[str] = set()
        self._due_again: set[str] = set()

    def __call__(self, chat: Chat, turn: TurnRecord) -> None:
        if chat.memory is not Memory.SUMMARY or turn.erase_before is None:
            return
        if chat.id in self._folding:
            self._due_again.add(chat.id)
            return
        self._folding.add(chat.id)
        self._work.start(self._fold_while_due(chat.user_id, chat.id), name=f"summary {chat.id}")

    async def _fold_while_due(self, user_id: str, chat_id: str) -> None:
        try:
            due = True
            while due:
                self._due_again.discard(chat_id)
                try:
                    self._observer.fold_ended(await self._fold(user_id, chat_id))
                except ChatServiceError as error:
                    self._observer.fold_ended(FoldReport(error.code))
                    log.warning(
                        "the summary of chat %s was not brought up to date (%s); the next "
                        "erasing turn folds its messages in",
                        chat_id,
                        error.code,
                    )
                due = chat_id in self._due_again
        finally:
            self._folding.discard(chat_id)
            self._due_again.discard(chat_id)
