"""Running a turn for a JSON response."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing

from chatservice.application.turns import Completed, TurnEvent
from chatservice.entrypoints.http.schemas import TurnOut, turn_out


async def run_to_completion(events: AsyncGenerator[TurnEvent, None]) -> Completed:
    async with aclosing(events) as stream:
        async for event in stream:
            if isinstance(event, Completed):
                return event
    raise RuntimeError("a turn ended without completing")


async def complete_turn(events: AsyncGenerator[TurnEvent, None]) -> TurnOut:
    return turn_out((await run_to_completion(events)).reply)
