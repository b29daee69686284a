"""A retry whose first attempt lands between the retry's look-up and its claim."""

from __future__ import annotations

import asyncio

from dependency_injector import providers

from chatservice.adapters.memory_repository.repository import InMemoryChatRepository
from chatservice.application.ports import StoredTurn
from chatservice.application.turn_events import Completed, TurnEvent
from support.services import build_service


class LateLookUps(InMemoryChatRepository):
    """Once told to, holds the answer of the next look-up of a stored turn: it is read at once
    but handed over only when `answer` is set, whatever lands meanwhile."""

    def __init__(self) -> None:
        super().__init__()
        self.read = asyncio.Event()
        self.answer = asyncio.Event()
        self._holding = False

    def hold_next_look_up(self) -> None:
        self._holding = True

    async def find_turn(
        self, user_id: str, chat_id: str, idempotency_key: str
    ) -> StoredTurn | None:
        found = await super().find_turn(user_id, chat_id, idempotency_key)
        if self._holding:
            self._holding = False
            self.read.set()
            await self.answer.wait()
        return found


async def completed(events: object) -> Completed:
    collected: list[TurnEvent] = [event async for event in events]  # type: ignore[attr-defined]
    last = collected[-1]
    assert isinstance(last, Completed)
    return last


async def test_the_retry_gets_the_stored_reply_not_a_second_turn() -> None:
    repository = LateLookUps()
    base = build_service({"repository": providers.Object(repository)})
    send_message = base.send_message
    chat = await base.start_chat("u1")
    hold = base.gateway.hold(after_chunks=1)
    first = asyncio.create_task(completed(send_message("u1", chat.id, "hi", "k1")))
    await hold.reached()

    repository.hold_next_look_up()
    retry = asyncio.create_task(completed(send_message("u1", chat.id, "hi", "k1")))
    await repository.read.wait()  # the retry has looked: nothing is stored yet
    hold.release()
    landed = await first
    repository.answer.set()  # the retry learns "nothing stored", then claims the chat

    assert (await retry).reply == landed.reply
    assert len(base.gateway.requests) == 1
    stored = await repository.get_chat("u1", chat.id)
    assert len(stored.messages) == 3
