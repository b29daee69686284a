"""`WindowCache` on its own: versions, the erase rule, and the memory bound."""

from __future__ import annotations

from datetime import UTC, datetime

from chatservice.adapters.sqlalchemy.window_cache import MESSAGE_OVERHEAD_BYTES, WindowCache
from chatservice.domain.chat import Message, Role

T0 = datetime(2024, 5, 6, tzinfo=UTC)


def window(*contents: str) -> list[Message]:
    return [Message(f"id-{p}", Role.USER, c, 1, p, T0) for p, c in enumerate(contents)]


def size(messages: list[Message]) -> int:
    return sum(len(m.content) + MESSAGE_OVERHEAD_BYTES for m in messages)


def test_a_window_is_given_back_only_at_the_version_it_was_stored_at() -> None:
    cache = WindowCache(10_000)
    cache.put("chat", 3, window("system", "hi"))
    assert cache.get("chat", 3) == window("system", "hi")
    assert cache.get("chat", 4) is None
    assert cache.get("chat", 2) is None
    assert cache.get("other", 3) is None


def test_the_caller_gets_a_copy_it_may_change() -> None:
    cache = WindowCache(10_000)
    cache.put("chat", 1, window("system"))
    given = cache.get("chat", 1)
    assert given is not None
    given.append(window("x", "y")[1])
    assert cache.get("chat", 1) == window("system")


def test_a_committed_turn_drops_the_erased_messages_but_never_the_system_message() -> None:
    cache = WindowCache(10_000)
    stored = window("system", "q1", "a1", "q2", "a2")
    cache.put("chat", 7, stored)
    added = window(*"0123456")[5:]
    cache.advance("chat", 7, 3, added)
    assert cache.get("chat", 7) is None
    assert cache.get("chat", 8) == [stored[0], stored[3], stored[4], *added]
    cache.advance("chat", 8, None, added)
    assert cache.get("chat", 9) == [stored[0], stored[3], stored[4], *added, *added]


def test_a_turn_on_a_window_not_held_at_that_version_records_nothing() -> None:
    cache = WindowCache(10_000)
    cache.put("chat", 7, window("system"))
    cache.advance("chat", 6, None, window("a", "b"))
    assert cache.get("chat", 7) == window("system")
    assert cache.get("chat", 8) is None


def test_the_least_recently_used_window_goes_first_when_memory_runs_out() -> None:
    one = window("system", "x" * 100)
    cache = WindowCache(2 * size(one) + 10)
    cache.put("a", 1, one)
    cache.put("b", 1, one)
    assert cache.get("a", 1) is not None  # "b" is now the least recently used
    cache.put("c", 1, one)
    assert cache.get("b", 1) is None
    assert cache.get("a", 1) is not None
    assert cache.get("c", 1) is not None
    assert cache.size_bytes == 2 * size(one)


def test_a_window_larger_than_the_cache_is_not_held_and_zero_turns_it_off() -> None:
    big = window("system", "x" * 5_000)
    cache = WindowCache(size(big) - 1)
    cache.put("chat", 1, window("system"))
    cache.put("chat", 2, big)
    assert cache.get("chat", 2) is None
    assert cache.get("chat", 1) is None, "a newer version replaces the old one even if not held"
    off = WindowCache(0)
    off.put("chat", 1, window("system"))
    assert off.get("chat", 1) is None
    assert off.size_bytes == 0


def test_forgetting_a_chat_frees_its_memory() -> None:
    cache = WindowCache(10_000)
    cache.put("chat", 1, window("system", "hi"))
    cache.forget("chat")
    assert cache.get("chat", 1) is None
    assert cache.size_bytes == 0
    cache.forget("chat")  # twice is harmless
