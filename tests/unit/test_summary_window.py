"""The window rule with a chat's summary: it follows the system message and its cost counts, but
it never costs a turn its place: where it cannot fit beside the new message, it stays out."""

from datetime import UTC, datetime

import pytest

from chatservice.domain.chat import (
    Budget,
    Chat,
    ChatParams,
    Message,
    Role,
    erase_to_fit,
    window_use,
)
from chatservice.domain.errors import InvalidInput, MessageTooLong
from chatservice.domain.memory import ChatSummary, Memory, memory_named

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def conversation(system: int, *exchanges: tuple[int, int]) -> list[Message]:
    roles = [(Role.SYSTEM, system)]
    for user, assistant in exchanges:
        roles += [(Role.USER, user), (Role.ASSISTANT, assistant)]
    return [Message(f"m{i}", r, f"text {i}", t, i, NOW) for i, (r, t) in enumerate(roles)]


def test_a_summary_that_fits_is_carried_and_its_cost_counts() -> None:
    fit = erase_to_fit(conversation(10, (5, 5)), 5, Budget(window=100, reserve=10), 20)
    assert fit.with_summary
    assert fit.erased == ()
    assert fit.prompt_tokens == 3 + 10 + 20 + 5 + 5 + 5


def test_the_summary_cost_erases_older_exchanges_to_make_room() -> None:
    # Without the summary, 3 + 10 + 20 + 20 + 5 + 5 + 7 = 70 fits 70; with 10 more it does not.
    messages = conversation(10, (20, 20), (5, 5))
    assert erase_to_fit(messages, 7, Budget(window=100, reserve=30)).erased == ()
    fit = erase_to_fit(messages, 7, Budget(window=100, reserve=30), 10)
    assert fit.with_summary
    assert [m.position for m in fit.erased] == [1, 2]
    assert fit.prompt_tokens == 3 + 10 + 10 + 5 + 5 + 7


def test_equality_fits_with_the_summary() -> None:
    # 3 + 10 + 47 + 10 = 70 == 100 - 30
    fit = erase_to_fit(conversation(10), 10, Budget(window=100, reserve=30), 47)
    assert fit.with_summary
    assert fit.prompt_tokens == 70


def test_a_summary_too_large_to_fit_beside_the_new_message_is_left_out() -> None:
    fit = erase_to_fit(conversation(10, (5, 5)), 10, Budget(window=100, reserve=30), 48)
    assert not fit.with_summary
    assert fit.erased == ()
    assert fit.prompt_tokens == 3 + 10 + 5 + 5 + 10


def test_a_left_out_summary_never_makes_the_turn_refused() -> None:
    # The new message alone takes the whole room: the turn goes, without the summary.
    fit = erase_to_fit(conversation(10, (5, 5)), 57, Budget(window=100, reserve=30), 1)
    assert not fit.with_summary
    assert fit.prompt_tokens == 70


def test_a_message_too_long_without_the_summary_is_still_refused() -> None:
    with pytest.raises(MessageTooLong):
        erase_to_fit(conversation(10), 58, Budget(window=100, reserve=30), 1)


def test_no_summary_means_the_rule_of_part_one() -> None:
    messages = conversation(10, (20, 20), (5, 5))
    fit = erase_to_fit(messages, 18, Budget(window=100, reserve=30))
    assert not fit.with_summary
    assert [m.position for m in fit.erased] == [1, 2]


def test_memory_is_named_by_its_value() -> None:
    assert memory_named("summary") is Memory.SUMMARY
    assert memory_named("none") is Memory.NONE


def test_an_unknown_memory_is_invalid_input_naming_the_choices() -> None:
    with pytest.raises(InvalidInput, match="'none', 'summary'"):
        memory_named("everything")


def test_a_chat_keeps_no_memory_unless_asked() -> None:
    chat = Chat("c", "u", "gpt-4o", ChatParams(max_completion_tokens=10), NOW, NOW)
    assert chat.memory is Memory.NONE
    assert chat.summary is None


def test_a_summary_starts_at_version_one() -> None:
    assert ChatSummary("s", 5, 4, NOW).version == 1


def test_the_window_in_use_counts_the_summary() -> None:
    chat = Chat("c", "u", "gpt-4o", ChatParams(max_completion_tokens=10), NOW, NOW)
    chat.messages = conversation(10, (5, 5))
    without = window_use(chat, 100).used
    chat.summary = ChatSummary("s", 9, 2, NOW)

    assert window_use(chat, 100).used == without + 9
