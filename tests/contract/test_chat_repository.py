"""The `ChatRepository` contract, held against every adapter: in memory, SQLite and MariaDB
(the adapters: conftest.py)."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import UTC, timedelta, timezone
from pathlib import Path

import pytest

from chatservice.adapters.sqlalchemy.engine import create_engine
from chatservice.adapters.sqlalchemy.repository import SqlAlchemyChatRepository
from chatservice.application.ports import ChatCursor, ChatRepository
from chatservice.domain.chat import (
    IDEMPOTENCY_KEY_CHARS,
    Chat,
    ChatParams,
    ChatStatus,
    Role,
    Usage,
)
from chatservice.domain.errors import (
    ChatEnded,
    ChatNotFound,
    ConcurrentUpdate,
    StorageUnavailable,
    TurnInProgress,
)
from support.chat_records import T0, claim, message, new_chat, new_id, new_user, turn
from support.databases import connection_threads_finished

UNICODE = "Olá 🙂 𝄞 — ação, 中文, emoji 👩‍👩‍👧"


async def test_an_added_chat_reads_back_with_every_field_intact(repository: ChatRepository) -> None:
    chat = new_chat(
        new_user(),
        params=ChatParams(512, 0.7, 0.9, -0.5, 1.25, ("END", "🙂 stop")),
        updated_at=T0 + timedelta(microseconds=1),
        usage=Usage(10**12, 3),
        version=4,
        title="Olá 🙂 𝄞" * 10,
    )
    chat.messages += [
        message(1, Role.USER, UNICODE + "x" * 100_000, idempotency_key="Key-1 ", erased=True),
        message(
            2,
            Role.ASSISTANT,
            UNICODE,
            finish_reason="content_filter",
            prompt_tokens=2**40,
            completion_tokens=0,
            usage_estimated=True,
            estimated_prompt_tokens=2**40 - 1,
            model="claude-opus-4-5-20251101",
        ),
    ]
    await repository.add_chat(chat)

    stored = await repository.get_chat(chat.user_id, chat.id)

    assert stored == chat
    assert stored.messages[1].content == UNICODE + "x" * 100_000
    assert stored.updated_at.microsecond == 123457
    assert stored.updated_at.utcoffset() == timedelta(0)


async def test_a_claim_returns_the_chat_with_only_its_non_erased_messages(
    repository: ChatRepository,
) -> None:
    chat = new_chat(new_user(), exchanges=4, erased=2)
    await repository.add_chat(chat)

    claimed = await repository.claim_turn(chat.user_id, chat.id, claim())

    assert claimed == replace(chat, messages=[m for m in chat.messages if not m.erased])
    assert [m.position for m in claimed.messages] == [0, 5, 6, 7, 8]


async def test_a_second_claim_is_refused_with_the_holders_idempotency_key(
    repository: ChatRepository,
) -> None:
    chat = new_chat(new_user())
    await repository.add_chat(chat)
    await repository.claim_turn(chat.user_id, chat.id, claim("first"))

    with pytest.raises(TurnInProgress) as refused:
        await repository.claim_turn(
            chat.user_id, chat.id, claim("second", at=T0 + timedelta(seconds=119))
        )
    assert refused.value.idempotency_key == "first"


async def test_only_one_of_many_simultaneous_claims_wins(repository: ChatRepository) -> None:
    chat = new_chat(new_user())
    await repository.add_chat(chat)

    outcomes = await asyncio.gather(
        *(repository.claim_turn(chat.user_id, chat.id, claim()) for _ in range(6)),
        return_exceptions=True,
    )

    assert sum(isinstance(o, Chat) for o in outcomes) == 1
    assert sum(isinstance(o, TurnInProgress) for o in outcomes) == 5


async def test_an_expired_claim_can_be_taken_over(repository: ChatRepository) -> None:
    chat = new_chat(new_user())
    await repository.add_chat(chat)
    await repository.claim_turn(chat.user_id, chat.id, claim("crashed", ttl=120))

    taken = await repository.claim_turn(
        chat.user_id, chat.id, claim("next", T0 + timedelta(seconds=120))
    )

    assert taken.id == chat.id
    with pytest.raises(TurnInProgress) as refused:
        await repository.claim_turn(
            chat.user_id, chat.id, claim("third", T0 + timedelta(seconds=121))
        )
    assert refused.value.idempotency_key == "next"


async def test_a_claim_on_an_ended_chat_is_refused(repository: ChatRepository) -> None:
    chat = new_chat(new_user())
    await repository.add_chat(chat)
    await repository.end_chat(chat.user_id, chat.id, T0)

    with pytest.raises(ChatEnded):
        await repository.claim_turn(chat.user_id, chat.id, claim())


@pytest.mark.parametrize(
    ("owner", "stranger"),
    [("Alice", "alice"), ("alice", "Alice"), ("alice", "alice "), ("alice ", "alice"), ("a", "b")],
)
async def test_a_chat_is_not_found_by_any_other_user_however_alike_their_ids(
    repository: ChatRepository, owner: str, stranger: str
) -> None:
    prefix = uuid.uuid4().hex[:12]
    chat = new_chat(prefix + owner, exchanges=1)
    await repository.add_chat(chat)
    idempotency_key = chat.messages[1].idempotency_key or ""
    other = prefix + stranger

    for attempt in (
        repository.claim_turn(other, chat.id, claim()),
        repository.find_turn(other, chat.id, idempotency_key),
        repository.get_chat(other, chat.id),
        repository.end_chat(other, chat.id, T0),
        repository.delete_chat(other, chat.id),
    ):
        with pytest.raises(ChatNotFound):
            await attempt
    assert await repository.list_chats(other, 10, None) == []
    assert (await repository.get_chat(chat.user_id, chat.id)) == chat


async def test_every_method_treats_an_unknown_chat_as_not_found(repository: ChatRepository) -> None:
    user, missing = new_user(), new_id()
    for attempt in (
        repository.claim_turn(user, missing, claim()),
        repository.find_turn(user, missing, "any"),
        repository.get_chat(user, missing),
        repository.end_chat(user, missing, T0),
        repository.delete_chat(user, missing),
    ):
        with pytest.raises(ChatNotFound):
            await attempt
    with pytest.raises(ConcurrentUpdate):
        await repository.commit_turn(turn(new_chat(user), "any"))
    await repository.release_turn(missing, "any")


async def test_a_commit_stores_the_turn_and_releases_the_claim(repository: ChatRepository) -> None:
    chat = new_chat(new_user(), exchanges=3, erased=1, usage=Usage(5, 6), version=2)
    await repository.add_chat(chat)
    await repository.claim_turn(chat.user_id, chat.id, claim("mine"))
    record = turn(chat, "mine", erase_before=5)

    await repository.commit_turn(record)

    stored = await repository.get_chat(chat.user_id, chat.id)
    assert [m.position for m in stored.messages if m.erased] == [1, 2, 3, 4]
    assert stored.messages[-2:] == [record.user_message, record.reply]
    assert (stored.usage, stored.version, stored.title) == (Usage(105, 26), 3, "A title")
    assert stored.updated_at == record.updated_at
    assert stored.created_at == chat.created_at
    await repository.claim_turn(chat.user_id, chat.id, claim("next one"))


async def test_a_commit_without_a_title_keeps_the_chats_title(repository: ChatRepository) -> None:
    chat = new_chat(new_user(), title="First words")
    await repository.add_chat(chat)
    await repository.claim_turn(chat.user_id, chat.id, claim("mine"))

    await repository.commit_turn(turn(chat, "mine", title=None))

    assert (await repository.get_chat(chat.user_id, chat.id)).title == "First words"


async def test_a_commit_with_a_stale_version_is_refused_and_stores_nothing(
    repository: ChatRepository,
) -> None:
    chat = new_chat(new_user(), exchanges=2, version=7)
    await repository.add_chat(chat)
    await repository.claim_turn(chat.user_id, chat.id, claim("mine"))

    with pytest.raises(ConcurrentUpdate):
        await repository.commit_turn(turn(chat, "mine", erase_before=3, version=6))

    assert await repository.get_chat(chat.user_id, chat.id) == chat
    with pytest.raises(TurnInProgress):
        await repository.claim_turn(chat.user_id, chat.id, claim())


async def test_a_commit_after_the_claim_was_taken_over_is_refused_and_stores_nothing(
    repository: ChatRepository,
) -> None:
    chat = new_chat(new_user(), exchanges=1)
    await repository.add_chat(chat)
    await repository.claim_turn(chat.user_id, chat.id, claim("slow", ttl=1))
    await repository.claim_turn(chat.user_id, chat.id, claim("fast", T0 + timedelta(seconds=1)))

    with pytest.raises(ConcurrentUpdate):
        await repository.commit_turn(turn(chat, "slow", erase_before=3))

    assert await repository.get_chat(chat.user_id, chat.id) == chat
    await repository.commit_turn(turn(chat, "fast"))


async def test_release_drops_only_the_callers_own_claim(repository: ChatRepository) -> None:
    chat = new_chat(new_user())
    await repository.add_chat(chat)
    await repository.claim_turn(chat.user_id, chat.id, claim("holder"))

    await repository.release_turn(chat.id, "someone else")
    with pytest.raises(TurnInProgress):
        await repository.claim_turn(chat.user_id, chat.id, claim())
    await repository.release_turn(chat.id, "holder")

    await repository.claim_turn(chat.user_id, chat.id, claim("next"))
    with pytest.raises(ConcurrentUpdate):
        await repository.commit_turn(turn(chat, "holder"))


async def test_find_turn_returns_the_committed_message_and_its_reply(
    repository: ChatRepository,
) -> None:
    chat = new_chat(new_user(), exchanges=2)
    await repository.add_chat(chat)
    await repository.claim_turn(chat.user_id, chat.id, claim("Key"))
    record = turn(chat, "Key")
    await repository.commit_turn(record)

    found = await repository.find_turn(chat.user_id, chat.id, "Key")

    assert found is not None
    assert (found.user_message, found.reply) == (record.user_message, record.reply)
    assert await repository.find_turn(chat.user_id, chat.id, "key") is None
    assert await repository.find_turn(chat.user_id, chat.id, "Key ") is None


async def test_the_longest_idempotency_key_the_domain_admits_is_stored_and_found(
    repository: ChatRepository,
) -> None:
    chat = new_chat(new_user())
    await repository.add_chat(chat)
    key = "~" * IDEMPOTENCY_KEY_CHARS
    await repository.claim_turn(chat.user_id, chat.id, claim(key))
    await repository.commit_turn(turn(chat, key))

    found = await repository.find_turn(chat.user_id, chat.id, key)

    assert found is not None and found.user_message.idempotency_key == key


async def test_chats_are_listed_newest_first_and_paged_by_updated_at_then_id(
    repository: ChatRepository,
) -> None:
    user = new_user()
    times = [T0, T0 + timedelta(microseconds=1), T0, T0 + timedelta(hours=1), T0, T0]
    chats = [new_chat(user, exchanges=1, updated_at=when) for when in times]
    for chat in chats:
        await repository.add_chat(chat)
    await repository.add_chat(new_chat(new_user()))
    expected = sorted(chats, key=lambda c: (c.updated_at, c.id), reverse=True)

    pages: list[list[Chat]] = []
    after: ChatCursor | None = None
    while not pages or pages[-1]:
        pages.append(await repository.list_chats(user, 2, after))
        if pages[-1]:
            after = ChatCursor(pages[-1][-1].updated_at, pages[-1][-1].id)

    assert [len(page) for page in pages] == [2, 2, 2, 0]
    listed = [chat for page in pages for chat in page]
    assert [c.id for c in listed] == [c.id for c in expected]
    assert listed == [replace(c, messages=[]) for c in expected]


async def test_ending_a_chat_is_idempotent(repository: ChatRepository) -> None:
    chat = new_chat(new_user(), exchanges=2, erased=1, version=1)
    await repository.add_chat(chat)

    ended = await repository.end_chat(chat.user_id, chat.id, T0 + timedelta(hours=1))
    again = await repository.end_chat(chat.user_id, chat.id, T0 + timedelta(hours=2))

    expected = replace(chat, status=ChatStatus.ENDED, version=2, updated_at=T0 + timedelta(hours=1))
    assert ended == again == expected
    assert await repository.get_chat(chat.user_id, chat.id) == expected


async def test_deleting_a_chat_removes_it_with_all_its_messages(repository: ChatRepository) -> None:
    chat = new_chat(new_user(), exchanges=3, erased=1)
    await repository.add_chat(chat)

    await repository.delete_chat(chat.user_id, chat.id)

    with pytest.raises(ChatNotFound):
        await repository.get_chat(chat.user_id, chat.id)
    assert await repository.list_chats(chat.user_id, 10, None) == []
    # Storing the same chat again collides with any message left behind.
    await repository.add_chat(chat)
    assert await repository.get_chat(chat.user_id, chat.id) == chat


async def test_ping_answers_when_the_store_is_up(repository: ChatRepository) -> None:
    await repository.ping()


async def test_timestamps_from_any_zone_come_back_as_the_same_instant_in_utc(
    sql_repository: SqlAlchemyChatRepository,
) -> None:
    chat = new_chat(new_user(), created_at=T0.astimezone(timezone(timedelta(hours=-3))))
    await sql_repository.add_chat(chat)

    stored = await sql_repository.get_chat(chat.user_id, chat.id)

    assert stored.created_at == T0
    assert stored.created_at.tzinfo is UTC
    assert stored.messages[0].created_at.tzinfo is UTC


async def test_a_commit_whose_position_is_taken_is_a_concurrent_update(
    sql_repository: SqlAlchemyChatRepository,
) -> None:
    chat = new_chat(new_user(), exchanges=1)
    await sql_repository.add_chat(chat)
    await sql_repository.claim_turn(chat.user_id, chat.id, claim("mine"))
    clash = turn(replace(chat, messages=chat.messages[:1]), "mine", erase_before=2)

    with pytest.raises(ConcurrentUpdate):
        await sql_repository.commit_turn(clash)

    assert await sql_repository.get_chat(chat.user_id, chat.id) == chat


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("mariadb", marks=pytest.mark.mariadb)])
async def test_an_unreachable_database_is_storage_unavailable_without_parameters(
    kind: str, tmp_path: Path
) -> None:
    url = {
        "sqlite": f"sqlite+aiosqlite:///{tmp_path}",  # a directory, which SQLite cannot open
        "mariadb": "mysql+asyncmy://root@127.0.0.1:1/nowhere",  # nothing listens on port 1
    }[kind]
    engine = create_engine(url)
    repository = SqlAlchemyChatRepository(engine, window_cache_bytes=0)
    try:
        with pytest.raises(StorageUnavailable) as failure:
            await repository.get_chat("secret-user", "secret-chat")
        assert "secret" not in str(failure.value)
        with pytest.raises(StorageUnavailable):
            await repository.ping()
    finally:
        await engine.dispose()
        await connection_threads_finished()
