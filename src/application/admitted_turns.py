"""The user's rate, counted before any turn they ask for: a wrapper the use cases know nothing
about. The container puts `RateLimitedTurn` around the turn that sending a message, regenerating
a reply and editing a message all take, so the limit is applied in one place."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing

from chatservice.application.rate_limit import TurnRateLimiter
from chatservice.application.turn_events import TurnEvent
from chatservice.application.turns import Turn
from chatservice.domain.turn import TurnAction


class RateLimitedTurn:
    """A `Turn` that first counts a turn for its user (`TurnRateLimiter.admit`: `RateLimited`
    over the limit), before any database or model work: a flood costs a look-up each."""

    def __init__(self, turn: Turn, rate_limiter: TurnRateLimiter) -> None:
        self._turn = turn
        self._rate_limiter = rate_limiter

    async def __call__(
        self,
        user_id: str,
        chat_id: str,
        action: TurnAction,
        idempotency_key: str | None,
        deltas: bool,
    ) -> AsyncGenerator[TurnEvent, None]:
        await self._rate_limiter.admit(user_id)
        # aclosing: when our caller closes us, the turn (and with it the model's stream) is
        # closed at once, not whenever it is collected.
        turn = self._turn(user_id, chat_id, action, idempotency_key, deltas)
        async with aclosing(turn) as events:
            async for event in events:
                yield event
