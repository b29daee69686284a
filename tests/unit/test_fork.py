"""Forking a chat (`fork_of`): the copy reads like the original up to the fork point."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import count

import pytest

from chatservice.domain.chat import Chat, ChatParams, ChatStatus, ForkOrigin, Message, Role, Usage
from chatservice.domain.errors import MessageErased, MessageNotFound, MessageSuperseded
from chatservice.domain.fork import fork_of

T0 = datetime(2026, 1, 1, tzinfo=UTC)
LATER = T0 + timedelta(days=1)


def original() -> Chat:
    """0 system · 1 2 erased exchange · 3 question, 4 superseded reply, 5 its regeneration ·
    6 7 the last exchange."""
    roles = [Role.SYSTEM, *[Role.USER, Role.ASSISTANT] * 2, Role.ASSISTANT, Role.USER]
    messages = [
        Message(
            f"m{p}", role, f"text {p}", 10 + p, p, T0 + timedelta(seconds=p),
            erased=p in (1, 2), superseded=p == 4, idempotency_key=f"key {p}",
            replaces="m4" if p == 5 else None, prompt_tokens=p, completion_tokens=p,
        )
        for p, role in enumerate([*roles, Role.ASSISTANT])
    ]  # fmt: skip
    return Chat(
        "chat", "alice", "gpt-4o", ChatParams(300, temperature=0.5), T0, T0,
        status=ChatStatus.ENDED, messages=messages, usage=Usage(500, 60), version=9,
        title="text 1",
    )  # fmt: skip


def ids() -> Callable[[], str]:
    numbers = count()
    return lambda: f"new-{next(numbers)}"


def as_read(messages: list[Message]) -> list[tuple[object, ...]]:
    """What a reader sees of a history, ids and positions aside."""
    return [
        (m.role, m.content, m.tokens, m.erased, m.superseded, m.created_at, m.finish_reason,
         m.prompt_tokens, m.completion_tokens, m.usage_estimated)
        for m in messages
    ]  # fmt: skip


def test_the_fork_reads_like_the_original_up_to_the_fork_point_without_superseded_versions() -> (
    None
):
    chat = original()
    fork = fork_of(chat, "m6", ids(), LATER)
    kept = [m for m in chat.messages[:7] if not m.superseded]
    assert as_read(fork.messages) == as_read(kept)
    assert [m.position for m in fork.messages] == [0, 1, 2, 3, 4, 5]
    assert {m.id for m in fork.messages}.isdisjoint(m.id for m in chat.messages)
    assert all(m.idempotency_key is None and m.replaces is None for m in fork.messages)


def test_the_fork_is_a_new_active_chat_of_the_same_user_model_and_params() -> None:
    chat = original()
    fork = fork_of(chat, "m5", ids(), LATER, "Key")
    assert fork.id not in {chat.id, *(m.id for m in fork.messages)}
    assert (fork.user_id, fork.model, fork.params) == (chat.user_id, chat.model, chat.params)
    assert (fork.status, fork.version, fork.usage) == (ChatStatus.ACTIVE, 0, Usage())
    assert (fork.created_at, fork.updated_at, fork.title) == (LATER, LATER, "text 1")
    assert fork.forked_from == ForkOrigin("chat", "m5", "Key")


def test_a_fork_from_the_system_message_holds_it_alone_and_has_no_title() -> None:
    fork = fork_of(original(), "m0", ids(), LATER)
    assert [m.content for m in fork.messages] == ["text 0"]
    assert fork.title == ""


def test_the_original_is_left_as_it_was() -> None:
    chat = original()
    before = replace(chat, messages=list(chat.messages))
    fork_of(chat, "m7", ids(), LATER)
    assert chat == before


@pytest.mark.parametrize(
    ("message_id", "error"),
    [
        ("m4", MessageSuperseded),
        ("m1", MessageErased),
        ("m2", MessageErased),
        ("m9", MessageNotFound),
    ],
)
def test_a_fork_point_must_be_a_message_of_the_chat_still_in_its_window(
    message_id: str, error: type[Exception]
) -> None:
    with pytest.raises(error):
        fork_of(original(), message_id, ids(), LATER)
