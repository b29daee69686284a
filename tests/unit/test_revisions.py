"""What a turn's action (send, regenerate, edit) makes of the window, and which stored turn a
retry of it is (`revise`, `is_retry`)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from chatservice.domain.chat import Message, Role
from chatservice.domain.errors import NothingToRegenerate, NotLastUserMessage
from chatservice.domain.turn import Edit, Regenerate, Send, is_retry, revise

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def window(*roles: Role) -> list[Message]:
    """The system message, then messages of `roles`, at positions 0, 1, 2, …"""
    return [
        Message(f"m{p}", role, f"text {p}", 5, p, NOW)
        for p, role in enumerate((Role.SYSTEM, *roles))
    ]


U, A = Role.USER, Role.ASSISTANT


def test_a_new_message_follows_the_whole_window_and_supersedes_nothing() -> None:
    messages = window(U, A)
    revision = revise(messages, Send("next"))
    assert revision.history == tuple(messages)
    assert (revision.question, revision.superseded, revision.supersede_from) == (None, (), None)


def test_a_regenerate_answers_the_last_question_again_and_supersedes_its_reply() -> None:
    messages = window(U, A, U, A)
    revision = revise(messages, Regenerate())
    assert revision.history == tuple(messages[:3])
    assert revision.question == messages[3]
    assert revision.superseded == (messages[4],)
    assert revision.supersede_from == 4


def test_a_regenerate_of_a_question_without_a_reply_supersedes_nothing() -> None:
    messages = window(U, A, U)
    revision = revise(messages, Regenerate())
    assert (revision.question, revision.superseded) == (messages[3], ())


@pytest.mark.parametrize("roles", [(), (A,)])
def test_a_window_without_a_question_has_nothing_to_regenerate(roles: tuple[Role, ...]) -> None:
    with pytest.raises(NothingToRegenerate):
        revise(window(*roles), Regenerate())


def test_an_edit_supersedes_the_last_question_and_its_reply() -> None:
    messages = window(U, A, U, A)
    revision = revise(messages, Edit("m3", "better words"))
    assert revision.history == tuple(messages[:3])
    assert revision.question is None
    assert revision.superseded == tuple(messages[3:])
    assert revision.supersede_from == 3


@pytest.mark.parametrize("message_id", ["m1", "m2", "m4", "m0", "elsewhere"])
def test_an_edit_of_anything_but_the_last_question_is_refused(message_id: str) -> None:
    with pytest.raises(NotLastUserMessage):
        revise(window(U, A, U, A), Edit(message_id, "better words"))


def test_an_edit_needs_a_question_in_the_window() -> None:
    with pytest.raises(NotLastUserMessage):
        revise(window(), Edit("m0", "hello"))


def stored(
    content: str = "hi", replaces: str | None = None, regenerated: bool = False
) -> tuple[Message, Message]:
    question = Message("q", U, content, 5, 1, NOW, idempotency_key="k", replaces=replaces)
    reply = Message("r", A, "answer", 5, 2, NOW)
    if regenerated:
        question = replace(question, idempotency_key=None)
        reply = replace(reply, idempotency_key="k", replaces="older reply")
    return question, reply


def test_a_retry_is_the_same_operation_on_the_same_message_with_the_same_text() -> None:
    assert is_retry(Send("hi"), *stored("hi"))
    assert is_retry(Edit("old", "hi"), *stored("hi", replaces="old"))
    assert is_retry(Regenerate(), *stored(regenerated=True))


@pytest.mark.parametrize(
    ("action", "turn"),
    [
        (Send("hello"), stored("hi")),
        (Send("hi"), stored("hi", replaces="old")),
        (Send("hi"), stored("hi", regenerated=True)),
        (Edit("old", "hello"), stored("hi", replaces="old")),
        (Edit("another", "hi"), stored("hi", replaces="old")),
        (Edit("old", "hi"), stored("hi")),
        (Edit("old", "hi"), stored("hi", replaces="old", regenerated=True)),
        (Regenerate(), stored("hi")),
        (Regenerate(), stored("hi", replaces="old")),
    ],
)
def test_the_same_key_on_another_operation_message_or_text_is_no_retry(
    action: Send | Edit | Regenerate, turn: tuple[Message, Message]
) -> None:
    assert not is_retry(action, *turn)
