"""`WindowCache` on its own: copies, the turn rule, and the memory bound."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from chatservice.adapters.sqlalchemy.window_cache import MESSAGE_OVERHEAD_BYTES, WindowCache
from chatservice.domain.chat import Chat, ChatParams, Message, Role, Usage
from chatservice.domain.turn import TurnRecord

T0 = datetime(2024, 5, 6, tzinfo=UTC)


def messages(*contents: str, erased: int = 0) -> list[Message]:
    return [
        Message(f"id-{p}", Role.USER, c, 1, p, T0, erased=0 < p <= erased)
        for p, c in enumerate(contents)
    ]


def chat(chat_id: str = "chat", *contents: str, version: int = 3, erased: int = 0) -> Chat:
    return Chat(
        chat_id,
        "user",
        "gpt-4o-mini",
        ChatParams(64),
        T0,
        T0,
        messages=messages("system", *contents, erased=erased),
        usage=Usage(10, 5),
        version=version,
        title="",
    )


def size(held: Chat) -> int:
    return sum(len(m.content) + MESSAGE_OVERHEAD_BYTES for m in held.messages if not m.erased)


def turn(held: Chat, erase_before: int | None, title: str | None = "First") -> TurnRecord:
    position = held.messages[-1].position + 1
    user, reply = messages(*["x"] * position, "question", "answer")[position:]
    return TurnRecord(
        held.id,
        held.user_id,
        "request",
        held.version,
        user,
        reply,
        erase_before,
        Usage(30, 7),
        title,
        T0 + timedelta(minutes=1),
    )


def test_the_chat_comes_back_with_its_window_only() -> None:
    cache = WindowCache(10_000)
    stored = chat("chat", "q1", "a1", "q2", erased=2)
    cache.put(stored)
    assert cache.get("chat") == replace(stored, messages=[stored.messages[0], stored.messages[3]])
    assert cache.get("other") is None


def test_the_caller_gets_a_copy_it_may_change() -> None:
    cache = WindowCache(10_000)
    cache.put(chat("chat", "q1"))
    given = cache.get("chat")
    assert given is not None
    given.messages.append(messages("x", "y")[1])
    given.title = "changed"
    assert cache.get("chat") == chat("chat", "q1")


def test_a_turn_is_applied_as_the_commit_applies_it_to_the_rows() -> None:
    cache = WindowCache(10_000)
    stored = chat("chat", "q1", "a1", "q2", "a2")
    cache.put(stored)
    committed = turn(stored, erase_before=3)
    cache.record_turn(committed)
    after = cache.get("chat")
    assert after == replace(
        stored,
        messages=[
            *stored.messages[:1],
            *stored.messages[3:],
            committed.user_message,
            committed.reply,
        ],
        usage=Usage(40, 12),
        title="First",
        updated_at=committed.updated_at,
        version=4,
    )
    assert after is not None
    cache.record_turn(turn(after, erase_before=None, title=None))
    again = cache.get("chat")
    assert again is not None
    assert (again.version, again.title, len(again.messages)) == (5, "First", 7)


def test_a_turn_from_another_version_drops_the_chat() -> None:
    cache = WindowCache(10_000)
    stored = chat("chat", "q1")
    cache.put(stored)
    cache.record_turn(turn(replace(stored, version=2), erase_before=None))
    assert cache.get("chat") is None
    assert cache.size_bytes == 0


def test_the_least_recently_used_chat_goes_first_when_memory_runs_out() -> None:
    one = chat("a", "x" * 100)
    cache = WindowCache(2 * size(one) + 10)
    cache.put(one)
    cache.put(chat("b", "x" * 100))
    assert cache.get("a") is not None  # "b" is now the least recently used
    cache.put(chat("c", "x" * 100))
    assert cache.get("b") is None
    assert cache.get("a") is not None
    assert cache.get("c") is not None
    assert cache.size_bytes == 2 * size(one)


def test_a_chat_larger_than_the_cache_is_not_held_and_zero_turns_it_off() -> None:
    big = chat("chat", "x" * 5_000, version=4)
    cache = WindowCache(size(big) - 1)
    cache.put(chat("chat"))
    cache.put(big)
    assert cache.get("chat") is None, "a newer version replaces the old one even if not held"
    off = WindowCache(0)
    off.put(chat("chat"))
    assert off.get("chat") is None
    assert off.size_bytes == 0


def test_forgetting_a_chat_frees_its_memory() -> None:
    cache = WindowCache(10_000)
    cache.put(chat("chat", "hi"))
    cache.forget("chat")
    assert cache.get("chat") is None
    assert cache.size_bytes == 0
    cache.forget("chat")  # twice is harmless
