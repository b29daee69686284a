"""Chat search against the size of the table (docs/benchmarks.md, section 11): the same user's
search, timed beside 10,000 and then 100,000 messages of other users that all hold the words
searched for, on SQLite and MariaDB. A search whose cost followed the table would be ten times
slower at 100,000; ours reads only the user's own terms (docs/adr/0014-search-by-user-scoped-terms.md).

The rows are stored straight through SQLAlchemy Core, as the repository stores them (messages and
their search documents); the search runs through the repository, as `GET …/chats?q=` does.
"""

from __future__ import annotations

import random
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert

from chatservice.adapters.sqlalchemy import search
from chatservice.adapters.sqlalchemy.engine import create_engine
from chatservice.adapters.sqlalchemy.repository import SqlAlchemyChatRepository
from chatservice.adapters.sqlalchemy.rows import chat_row, message_row
from chatservice.adapters.sqlalchemy.tables import chats, messages, search_documents
from chatservice.domain.chat import Chat, ChatParams, Message, Role
from chatservice.domain.search import query_words

#: Other users' messages stored before each measurement.
TABLE_SIZES = (10_000, 100_000)
#: Chats of the searching users that match: few, and ten times more.
USER_MATCHES = (10, 100)
QUERY = "kangaroo facts"
MESSAGES_PER_CHAT = 10
SEARCHES = 200
PAGE = 20
_VOCABULARY = [f"word{i}" for i in range(500)]
T0 = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class SearchTiming:
    database: str
    stored: int
    matches: int
    median_ms: float
    p95_ms: float


def _chat(user: str, index: int, matching: bool, rng: random.Random) -> Chat:
    """A chat of `user` with `MESSAGES_PER_CHAT` messages after its system message, all holding
    the words searched for when `matching`."""
    when = T0 + timedelta(seconds=index)
    chat = Chat(str(uuid.uuid4()), user, "gpt-4o-mini", ChatParams(256), when, when)
    chat.messages.append(Message(str(uuid.uuid4()), Role.SYSTEM, "You are terse.", 9, 0, when))
    for position in range(1, MESSAGES_PER_CHAT + 1):
        words = rng.sample(_VOCABULARY, 12) + (QUERY.split() if matching else [])
        role = Role.USER if position % 2 else Role.ASSISTANT
        chat.messages.append(Message(str(uuid.uuid4()), role, " ".join(words), 20, position, when))
    return chat


def _store(url: str, made: list[Chat]) -> None:
    import asyncio

    async def store() -> None:
        engine = create_engine(url)
        try:
            async with engine.begin() as connection:
                await connection.execute(insert(chats), [chat_row(c) for c in made])
                await connection.execute(
                    insert(messages), [message_row(c.id, m) for c in made for m in c.messages]
                )
                await connection.execute(
                    insert(search_documents),
                    [d for c in made for d in search.document_rows(c.user_id, c.id, c.messages)],
                )
        finally:
            await engine.dispose()

    asyncio.run(store())


def _store_others(url: str, messages_count: int, rng: random.Random) -> None:
    """Other users' chats, every message holding the words searched for (the worst case for a
    search that would read every user's matches), stored in batches."""
    chats_needed = messages_count // MESSAGES_PER_CHAT
    batch: list[Chat] = []
    for index in range(chats_needed):
        batch.append(_chat(f"other-{index % 1000}", index, True, rng))
        if len(batch) == 500:
            _store(url, batch)
            batch = []
    if batch:
        _store(url, batch)


def _time_searches(url: str, user: str, matches: int) -> tuple[float, float]:
    import asyncio

    words = query_words(QUERY)

    async def run() -> list[float]:
        engine = create_engine(url)
        repository = SqlAlchemyChatRepository(engine, 0)
        seconds = []
        try:
            for attempt in range(SEARCHES + 20):
                started = time.perf_counter()
                found = await repository.search_chats(user, words, PAGE, None)
                if attempt >= 20:  # the first ones warm the pool and the caches
                    seconds.append(time.perf_counter() - started)
            assert len(found) == min(PAGE, matches), len(found)
        finally:
            await engine.dispose()
        return seconds

    seconds = asyncio.run(run())
    return statistics.median(seconds) * 1000, statistics.quantiles(seconds, n=20)[-1] * 1000


def search_cost(databases: dict[str, str], progress: Callable[[str], None]) -> list[SearchTiming]:
    timings = []
    for name, url in databases.items():
        rng = random.Random(7)
        users = {}
        for matches in USER_MATCHES:
            user = f"searcher-{matches}"
            # Twice as many chats as match: the rest hold other words only.
            _store(url, [_chat(user, i, i % 2 == 0, rng) for i in range(2 * matches)])
            users[matches] = user
        stored = 0
        for size in TABLE_SIZES:
            progress(f"search on {name}: storing other users' messages up to {size:,}")
            _store_others(url, size - stored, rng)
            stored = size
            for matches, user in users.items():
                median, p95 = _time_searches(url, user, matches)
                timings.append(SearchTiming(name, size, matches, median, p95))
                progress(f"search on {name}, {size:,} stored, {matches} matches: {median:.2f} ms")
    return timings


def search_section(timings: list[SearchTiming], machine: str) -> list[str]:
    """The search section of docs/benchmarks.md."""
    lines = [
        "## 11. Chat search against the size of the table",
        "",
        f"One user's search (`{QUERY}`, a page of {PAGE}) timed through the repository, as",
        "`GET /v1/users/{u}/chats?q=` runs it, after 10,000 and then 100,000 messages of other",
        "users are stored, every one of them holding both words: the worst case for a search that",
        "reads every user's matches. Two searching users: one with 10 matching chats, one with",
        f"100 (as many again not matching). Median and 95th percentile of {SEARCHES} searches",
        "after 20 to warm up. Flat in the table's size is the goal (ADR 14); the cost may follow",
        "the user's own matches. This section alone: `make bench-search`",
        "(`.venv/bin/python bench/run.py --only search`).",
        "",
        f"Measured: {machine}.",
        "",
        "| database | other users' messages | user's matching chats | median ms | p95 ms |",
        "|---|---|---|---|---|",
    ]
    for t in timings:
        lines.append(
            f"| {t.database} | {t.stored:,} | {t.matches} | {t.median_ms:.2f} | {t.p95_ms:.2f} |"
        )
    lines += [
        "",
        "| database | user's matching chats | median at 100,000 / at 10,000 |",
        "|---|---|---|",
    ]
    for database in dict.fromkeys(t.database for t in timings):
        for matches in USER_MATCHES:
            small, large = (
                next(
                    t.median_ms
                    for t in timings
                    if (t.database, t.stored, t.matches) == (database, size, matches)
                )
                for size in TABLE_SIZES
            )
            lines.append(f"| {database} | {matches} | {large / small:.2f} |")
    return lines
