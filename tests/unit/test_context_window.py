"""The context-window rule: erase the oldest exchanges, never the system message."""

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from chatservice.domain.chat import (
    Budget,
    Chat,
    ChatParams,
    Message,
    Role,
    WindowUse,
    check_room_for_conversation,
    erase_to_fit,
    window_use,
)
from chatservice.domain.errors import InvalidInput, MessageTooLong

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def history(*costs: tuple[Role, int]) -> list[Message]:
    return [
        Message(f"m{i}", role, f"text {i}", tokens, i, NOW)
        for i, (role, tokens) in enumerate(costs)
    ]


def conversation(system: int, *exchanges: tuple[int, int]) -> list[Message]:
    roles = [(Role.SYSTEM, system)]
    for user, assistant in exchanges:
        roles += [(Role.USER, user), (Role.ASSISTANT, assistant)]
    return history(*roles)


def test_nothing_is_erased_when_the_conversation_fits() -> None:
    fit = erase_to_fit(conversation(10, (5, 5)), 5, Budget(window=100, reserve=10))
    assert fit.erased == ()
    assert fit.prompt_tokens == 3 + 10 + 5 + 5 + 5
    assert fit.erase_before is None


def test_equality_fits() -> None:
    # 3 priming + 10 system + 20 + 20 + new 7 = 60 == 100 - 30 - 10
    fit = erase_to_fit(conversation(10, (20, 20)), 7, Budget(window=100, reserve=30, margin=10))
    assert fit.erased == ()
    assert fit.prompt_tokens == 60


def test_one_token_over_erases_the_oldest_exchange_as_a_whole() -> None:
    messages = conversation(10, (20, 20), (5, 5))
    fit = erase_to_fit(messages, 18, Budget(window=100, reserve=30))
    assert [m.position for m in fit.erased] == [1, 2]
    assert [m.position for m in fit.kept] == [0, 3, 4]
    assert fit.erase_before == 3
    assert fit.prompt_tokens == 3 + 10 + 5 + 5 + 18


def test_system_message_survives_when_window_overflows() -> None:
    messages = conversation(10, (30, 30), (30, 30), (30, 30))
    fit = erase_to_fit(messages, 40, Budget(window=100, reserve=40))
    assert fit.kept[0].role is Role.SYSTEM
    assert [m.position for m in fit.kept] == [0]
    assert len(fit.erased) == 6


def test_erasing_stops_as_soon_as_the_prompt_fits() -> None:
    messages = conversation(10, (10, 10), (10, 10), (10, 10))
    fit = erase_to_fit(messages, 10, Budget(window=80, reserve=10))
    # 3 + 10 + 60 + 10 = 83 > 70; dropping one exchange gives 63.
    assert [m.position for m in fit.erased] == [1, 2]
    assert fit.prompt_tokens == 63


def test_a_user_message_without_a_reply_goes_with_the_next_exchange_boundary() -> None:
    messages = history((Role.SYSTEM, 10), (Role.USER, 20), (Role.USER, 5), (Role.ASSISTANT, 5))
    fit = erase_to_fit(messages, 5, Budget(window=50, reserve=10))
    assert [m.position for m in fit.erased] == [1]


def test_margin_is_kept_free() -> None:
    messages = conversation(10, (10, 10))
    assert erase_to_fit(messages, 10, Budget(window=55, reserve=10)).erased == ()
    assert len(erase_to_fit(messages, 10, Budget(window=55, reserve=10, margin=5)).erased) == 2


def test_message_too_long_for_the_window_is_refused_with_the_largest_that_fits() -> None:
    with pytest.raises(MessageTooLong, match="at most 47 fit"):
        erase_to_fit(conversation(10, (5, 5)), 48, Budget(window=100, reserve=40))


def test_the_largest_message_that_fits_is_accepted_alone() -> None:
    fit = erase_to_fit(conversation(10, (5, 5)), 47, Budget(window=100, reserve=40))
    assert fit.prompt_tokens == 60
    assert [m.position for m in fit.kept] == [0]


def test_a_chat_with_too_little_room_to_talk_is_refused() -> None:
    with pytest.raises(InvalidInput, match="at least 64"):
        check_room_for_conversation(30, Budget(window=100, reserve=4))
    check_room_for_conversation(29, Budget(window=100, reserve=4))


def test_the_window_in_use_counts_what_the_next_prompt_holds_before_its_new_message() -> None:
    messages = conversation(10, (5, 6), (7, 8), (9, 4))
    messages[1:3] = [replace(m, erased=True) for m in messages[1:3]]
    messages[4] = replace(messages[4], superseded=True)
    chat = Chat("c", "u", "gpt-4o", ChatParams(300), NOW, NOW, messages=messages)
    assert window_use(chat, 4096) == WindowUse(used=3 + 10 + 7 + 9 + 4, reserve=300, limit=4096)


def test_a_scale_above_one_fits_our_count_as_the_provider_would_count_it() -> None:
    # The provider counts 1.5 of its tokens for each of ours: 60 of ours fill 90 of its 100.
    messages = conversation(10, (20, 20))
    fit = erase_to_fit(messages, 7, Budget(window=100, reserve=10, scale=1.5))
    assert fit.erased == ()
    assert fit.prompt_tokens == 60
    fit = erase_to_fit(messages, 8, Budget(window=100, reserve=10, scale=1.5))
    assert [m.position for m in fit.erased] == [1, 2]


def test_a_scale_below_one_keeps_more_than_our_count_alone_would() -> None:
    # 3 + 10 + 40 + 40 + 7 = 100 of ours is 60 of a provider counting 0.6 of ours.
    messages = conversation(10, (20, 20), (20, 20))
    assert erase_to_fit(messages, 7, Budget(window=100, reserve=40)).erased != ()
    fit = erase_to_fit(messages, 7, Budget(window=100, reserve=40, scale=0.6))
    assert fit.erased == ()
    assert fit.prompt_tokens == 100


def test_the_scale_divides_what_is_left_after_the_reserve_and_the_margin() -> None:
    assert Budget(window=100, reserve=30, margin=10, scale=1.0).prompt_limit == 60
    assert Budget(window=100, reserve=30, margin=10, scale=1.5).prompt_limit == 40
    assert Budget(window=100, reserve=30, margin=10, scale=1.4).prompt_limit == 42  # 42.86


def test_a_message_too_long_at_the_scale_says_how_much_fits_in_our_count() -> None:
    with pytest.raises(MessageTooLong, match="at most 27 fit"):
        erase_to_fit(conversation(10, (5, 5)), 28, Budget(window=100, reserve=20, scale=2.0))
