"""`wait_while_busy`: try again while the chat is busy, within the claim's lifetime."""

from __future__ import annotations

import pytest

from chatservice.application.busy import wait_while_busy
from chatservice.domain.errors import TurnInProgress


class BusyFor:
    """An attempt that finds the chat busy (held by `holder`) `times` times, then succeeds."""

    def __init__(self, times: int, holder: str = "other") -> None:
        self.left = times
        self.tries = 0
        self._holder = holder

    async def __call__(self) -> str:
        self.tries += 1
        if self.left > 0:
            self.left -= 1
            raise TurnInProgress("chat", self._holder)
        return "answered"


async def test_the_attempt_is_tried_again_until_the_chat_is_free() -> None:
    attempt = BusyFor(3)
    assert await wait_while_busy(attempt, limit_seconds=60, pauses=(0,)) == "answered"
    assert attempt.tries == 4


def held_by_mine(busy: TurnInProgress) -> bool:
    return busy.idempotency_key == "mine"


async def test_only_the_holders_the_caller_waits_for_are_waited_for() -> None:
    mine, other = BusyFor(3, holder="mine"), BusyFor(3, holder="someone-else")
    assert await wait_while_busy(mine, 60, (0,), waits_for=held_by_mine) == "answered"
    with pytest.raises(TurnInProgress):
        await wait_while_busy(other, 60, (0,), waits_for=held_by_mine)
    assert (mine.tries, other.tries) == (4, 1)


async def test_without_time_left_the_busy_chat_is_refused_after_one_try() -> None:
    attempt = BusyFor(3)
    with pytest.raises(TurnInProgress):
        await wait_while_busy(attempt, limit_seconds=0, pauses=(0,))
    assert attempt.tries == 1
