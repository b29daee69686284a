"""The rule for what a committed turn does to its chat (`TurnRecord.applied_to`)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from chatservice.domain.chat import Chat, ChatParams, Message, Role, Usage
from chatservice.domain.turn import TurnRecord

T0 = datetime(2024, 5, 6, tzinfo=UTC)
LATER = T0 + timedelta(minutes=1)


def stored_chat(*contents: str, title: str = "") -> Chat:
    """A chat at version 3: the system message, then `contents` alternating user and reply."""
    roles = [Role.USER, Role.ASSISTANT]
    messages = [
        Message("m0", Role.SYSTEM, "Be brief.", 5, 0, T0),
        *(Message(f"m{p}", roles[(p - 1) % 2], c, 1, p, T0) for p, c in enumerate(contents, 1)),
    ]
    return Chat(
        "chat", "user", "gpt-4o-mini", ChatParams(64), T0, T0,
        messages=messages, usage=Usage(10, 5), version=3, title=title,
    )  # fmt: skip


def turn_on(chat: Chat, erase_before: int | None = None, title: str | None = None) -> TurnRecord:
    position = chat.next_position
    return TurnRecord(
        chat_id=chat.id,
        user_id=chat.user_id,
        idempotency_key="request",
        expected_version=chat.version,
        user_message=Message("new-q", Role.USER, "question", 1, position, LATER),
        reply=Message("new-a", Role.ASSISTANT, "answer", 1, position + 1, LATER),
        erase_before=erase_before,
        usage=Usage(30, 7),
        title=title,
        updated_at=LATER,
    )


def test_the_two_new_messages_follow_the_history() -> None:
    chat = stored_chat("q1", "a1")
    turn = turn_on(chat)
    after = turn.applied_to(chat)
    assert after.messages == [*chat.messages, turn.user_message, turn.reply]


def test_messages_before_the_erase_position_are_erased_but_never_the_system_message() -> None:
    chat = stored_chat("q1", "a1", "q2", "a2")
    after = turn_on(chat, erase_before=3).applied_to(chat)
    assert [m.erased for m in after.messages] == [False, True, True, False, False, False, False]


def test_without_an_erase_position_nothing_is_erased() -> None:
    chat = stored_chat("q1", "a1")
    after = turn_on(chat).applied_to(chat)
    assert not any(m.erased for m in after.messages)


def test_the_usage_is_summed_the_version_bumped_and_the_time_updated() -> None:
    chat = stored_chat("q1", "a1")
    after = turn_on(chat).applied_to(chat)
    assert (after.usage, after.version, after.updated_at) == (Usage(40, 12), 4, LATER)


def test_the_title_is_set_only_by_a_turn_that_gives_one() -> None:
    untitled = stored_chat()
    titled = turn_on(untitled, title="question").applied_to(untitled)
    assert titled.title == "question"
    assert turn_on(titled).applied_to(titled).title == "question"


def test_the_stored_chat_itself_is_left_as_it_was() -> None:
    chat = stored_chat("q1", "a1")
    before = [*chat.messages]
    turn_on(chat, erase_before=3, title="question").applied_to(chat)
    assert (chat.messages, chat.version, chat.title) == (before, 3, "")


def test_a_regenerated_reply_supersedes_the_window_from_its_position_and_adds_alone() -> None:
    chat = stored_chat("q1", "a1", "q2", "a2")
    regenerate = replace(turn_on(chat), user_message=None, supersede_from=4)
    after = regenerate.applied_to(chat)
    assert after.messages[-1] == regenerate.reply
    assert len(after.messages) == len(chat.messages) + 1
    assert [m.superseded for m in after.messages] == [False, False, False, False, True, False]


def test_erasure_passes_over_a_superseded_message_which_stays_as_it_was() -> None:
    chat = stored_chat("q1", "a1", "a1 again", "q2", "a2")
    chat.messages[2] = replace(chat.messages[2], superseded=True)
    regenerate = replace(turn_on(chat, erase_before=4), user_message=None, supersede_from=5)
    after = regenerate.applied_to(chat)
    assert [m.position for m in after.messages if m.erased] == [1, 3]
    assert [m.position for m in after.messages if m.superseded] == [2, 5]
