"""What a rolling summary (`"memory": "summary"`) costs per erasing turn.

One conversation of `TURNS` turns on SQLite and the fake model, in one process through the
service's own container, once without memory and once with summaries: every user message is
about `WORDS` words, in a `WINDOW`-token window with a `RESERVE`-token reply reserve, so that
after the first few turns every turn erases an exchange. Measured per erasing turn: the summary
calls and their tokens (the usage the chat's total gains beyond its replies), the tokens the
summary then adds to every prompt, the fold's own time (its summary call on the fake model and
its two short transactions), and the turn's time with and without memory (the fold runs after
the turn, in the background: the turn should not feel it).

The fake model's summaries name each exchange in a line and grow until `summary_max_tokens`
cuts them; a real model's stay about that size too, since the bound is its reply limit.

Usage: `.venv/bin/python bench/summary_cost.py` (about a minute).
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from chatservice.adapters.sqlalchemy.migrations import AlembicMigrations
from chatservice.application.turn_events import run_to_completion
from chatservice.domain.chat import Usage
from chatservice.entrypoints.container import build_container, close_resources
from chatservice.entrypoints.settings import Settings

TURNS = 200
WORDS = 60
WINDOW = 2000
RESERVE = 200
USER = "bench"


@dataclass
class Run:
    memory: str
    chat_id: str = ""
    erasing_turns: int = 0
    summary_calls: int = 0
    summary_usage: Usage = field(default_factory=Usage)
    summary_tokens_in_prompt: int = 0
    fold_ms: list[float] = field(default_factory=list)
    turn_ms: list[float] = field(default_factory=list)


def message(n: int) -> str:
    words = " ".join(f"w{n}x{i}" for i in range(WORDS))
    return f"Turn {n}: Ana, 31, compares plan {n % 5} with plan {(n + 1) % 5}. {words}"


async def conversations(directory: Path) -> list[Run]:
    """Two chats in one service, one without memory and one with summaries, their turns taken
    in alternation so that both see the same machine."""
    url = f"sqlite+aiosqlite:///{directory}/summary-cost.db"
    await asyncio.to_thread(AlembicMigrations(url).upgrade_to_head)
    container = build_container(
        Settings(database_url=url, context_window=WINDOW, max_completion_tokens=RESERVE)
    )
    try:
        runs = [Run("none"), Run("summary")]
        for run in runs:
            run.chat_id = (await container.start_chat()(USER, memory=run.memory)).chat.id
        work = container.background_work()
        for n in range(TURNS):
            for run in runs:
                turn = container.send_message()(USER, run.chat_id, message(n))
                started = time.perf_counter()
                done = await run_to_completion(turn)
                run.turn_ms.append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                await work.drain(grace_seconds=60)
                if done.erased:
                    run.erasing_turns += 1
                    if run.memory == "summary":
                        run.fold_ms.append((time.perf_counter() - started) * 1000)
        for run in runs:
            stored = await container.repository().get_chat(USER, run.chat_id)
            replies = sum(
                (
                    Usage(m.prompt_tokens or 0, m.completion_tokens or 0)
                    for m in stored.messages
                    if m.prompt_tokens is not None
                ),
                Usage(),
            )
            run.summary_usage = Usage(
                stored.usage.prompt_tokens - replies.prompt_tokens,
                stored.usage.completion_tokens - replies.completion_tokens,
            )
            # Each call stores a version of the summary.
            run.summary_calls = stored.summary.version if stored.summary else 0
            run.summary_tokens_in_prompt = stored.summary.tokens if stored.summary else 0
        return runs
    finally:
        await close_resources(container)


def p50(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


async def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        runs = await conversations(Path(directory))
    print(f"{TURNS} turns of ~{WORDS + 10} words, window {WINDOW}, reserve {RESERVE}, SQLite")
    print(
        "| memory | erasing turns | summary calls | summary tokens per erasing turn "
        "(prompt + completion) | summary in each later prompt | fold p50 ms | turn p50 ms |"
    )
    print("|---|---|---|---|---|---|---|")
    for run in runs:
        per = max(run.erasing_turns, 1)
        print(
            f"| {run.memory} | {run.erasing_turns} | {run.summary_calls} | "
            f"{run.summary_usage.prompt_tokens / per:.0f} + "
            f"{run.summary_usage.completion_tokens / per:.0f} | "
            f"{run.summary_tokens_in_prompt:.0f} tokens | {p50(run.fold_ms):.1f} | "
            f"{p50(run.turn_ms):.1f} |"
        )


if __name__ == "__main__":
    asyncio.run(main())
