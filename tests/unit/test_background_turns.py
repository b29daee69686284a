"""Background turns, and following, reading and cancelling a turn by its request id: the use
cases over the in-memory stores, the in-process event log and the fake model, which the tests
hold mid-reply (`FakeChatGateway.hold`) instead of waiting for time to pass."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from chatservice.adapters.fake_gateway import ScriptedFailure
from chatservice.application.background_turns import (
    CANCELLED_BY_REQUEST,
    CANCELLED_BY_SHUTDOWN,
    Failed,
    NumberedEvent,
    TurnOutcome,
)
from chatservice.application.live_turns import TurnError, TurnState
from chatservice.application.ports import TurnClaim
from chatservice.application.turn_events import Completed, Delta, TurnEvent
from chatservice.domain.chat import Role
from chatservice.domain.errors import (
    ChatNotFound,
    MessageTooLong,
    ProviderUnavailable,
    TurnEnded,
    TurnEventsExpired,
    TurnInProgress,
    TurnNotFound,
)
from support.services import Service, build_service
from support.waiting import GENEROUS_SECONDS, eventually


async def start(
    service: Service, chat_id: str, content: str, key: str, user: str = "u1"
) -> TurnState:
    def start_turn(request_id: str) -> AsyncGenerator[TurnEvent, None]:
        return service.send_message(user, chat_id, content, request_id)

    turn = await service.container.run_in_background()(user, chat_id, key, start_turn)
    assert turn.request_id == key
    return turn.state


async def status(service: Service, chat_id: str, key: str, user: str = "u1") -> TurnOutcome:
    return await service.container.get_turn()(user, chat_id, key)


async def watch(
    service: Service, chat_id: str, key: str, after: int = 0, user: str = "u1"
) -> AsyncIterator[NumberedEvent]:
    return await service.container.watch_turn()(user, chat_id, key, after)


async def all_of(events: AsyncIterator[NumberedEvent]) -> list[NumberedEvent]:
    async with asyncio.timeout(GENEROUS_SECONDS):
        return [event async for event in events]


def text_of(events: list[NumberedEvent]) -> str:
    return "".join(e.event.text for e in events if isinstance(e.event, Delta))


async def stored_messages(service: Service, chat_id: str) -> int:
    return len((await service.repository.get_chat("u1", chat_id)).messages)


async def test_a_background_turn_is_running_once_claimed_and_ends_stored_on_its_own(
    service: Service,
) -> None:
    chat = await service.start_chat("u1")
    hold = service.gateway.hold(after_chunks=2)
    assert await start(service, chat.id, "tell me a story", "k1") == TurnState.RUNNING
    await hold.reached()
    assert await status(service, chat.id, "k1") == TurnOutcome(TurnState.RUNNING)
    with pytest.raises(TurnInProgress):  # the chat is the background turn's
        await start(service, chat.id, "meanwhile", "k2")
    hold.release()
    events = await all_of(await watch(service, chat.id, "k1"))
    done = events[-1].event
    assert isinstance(done, Completed)
    assert [e.id for e in events] == list(range(1, len(events) + 1))
    assert text_of(events) == done.reply.content
    outcome = await status(service, chat.id, "k1")
    assert outcome == TurnOutcome(TurnState.COMPLETED, done.reply)
    assert await stored_messages(service, chat.id) == 3


async def test_refusals_come_back_at_once_and_start_nothing() -> None:
    service = build_service(context_window=1000, max_completion_tokens=100)
    chat = await service.start_chat("u1")
    with pytest.raises(ChatNotFound):
        await start(service, "no-such-chat", "hi", "k1")
    with pytest.raises(MessageTooLong):
        await start(service, chat.id, "word " * 2_000, "k2")
    assert service.work.running == 0
    assert len(service.gateway.requests) == 0
    with pytest.raises(TurnNotFound):
        await status(service, chat.id, "k2")


async def test_a_retry_of_a_running_request_is_told_it_runs_and_starts_nothing(
    service: Service,
) -> None:
    chat = await service.start_chat("u1")
    hold = service.gateway.hold(after_chunks=1)
    await start(service, chat.id, "hi", "k1")
    await hold.reached()
    assert await start(service, chat.id, "hi", "k1") == TurnState.RUNNING
    hold.release()
    await all_of(await watch(service, chat.id, "k1"))
    assert await start(service, chat.id, "hi", "k1") == TurnState.COMPLETED
    assert len(service.gateway.requests) == 1


async def test_a_reader_resuming_after_event_n_gets_the_rest_and_the_text_adds_up(
    service: Service,
) -> None:
    chat = await service.start_chat("u1")
    hold = service.gateway.hold(after_chunks=4)
    await start(service, chat.id, "a resumable reply", "k1")
    await hold.reached()
    first = await watch(service, chat.id, "k1")
    had = [await anext(first) for _ in range(3)]
    await first.aclose()
    hold.release()
    rest = await all_of(await watch(service, chat.id, "k1", after=3))
    done = rest[-1].event
    assert isinstance(done, Completed)
    assert [e.id for e in had + rest] == list(range(1, len(had + rest) + 1))
    assert text_of(had) + text_of(rest) == done.reply.content


async def test_cancelling_a_running_turn_stores_nothing_and_frees_the_chat(
    service: Service,
) -> None:
    chat = await service.start_chat("u1")
    hold = service.gateway.hold(after_chunks=2)
    await start(service, chat.id, "never mind", "k1")
    await hold.reached()
    follower = asyncio.create_task(all_of(await watch(service, chat.id, "k1")))
    await service.container.cancel_turn()("u1", chat.id, "k1")
    events = await follower
    assert events[-1] == NumberedEvent(3, Failed("cancelled", CANCELLED_BY_REQUEST.message))
    assert await status(service, chat.id, "k1") == TurnOutcome(
        TurnState.CANCELLED, error=CANCELLED_BY_REQUEST
    )
    assert await stored_messages(service, chat.id) == 1
    assert service.gateway.abandoned == 1
    with pytest.raises(TurnEnded):
        await service.container.cancel_turn()("u1", chat.id, "k1")
    hold.release()
    assert await start(service, chat.id, "after all", "k2") == TurnState.RUNNING


async def test_a_turn_that_fails_after_it_was_accepted_says_why(service: Service) -> None:
    chat = await service.start_chat("u1")
    failure = ProviderUnavailable("the model went away")
    service.gateway.fail_next(ScriptedFailure(failure, after_chunks=2))
    await start(service, chat.id, "hi", "k1")
    events = await all_of(await watch(service, chat.id, "k1"))
    assert events[-1].event == Failed("provider_unavailable", "the model went away")
    error = TurnError("provider_unavailable", "the model went away")
    assert await status(service, chat.id, "k1") == TurnOutcome(TurnState.FAILED, error=error)
    assert await stored_messages(service, chat.id) == 1


async def test_shutdown_drains_a_background_turn_then_cancels_it_storing_nothing(
    service: Service,
) -> None:
    chat = await service.start_chat("u1")
    hold = service.gateway.hold(after_chunks=2)
    await start(service, chat.id, "cut short by a shutdown", "k1")
    await hold.reached()
    await service.work.drain(grace_seconds=0)
    assert service.work.running == 0
    assert await status(service, chat.id, "k1") == TurnOutcome(
        TurnState.CANCELLED, error=CANCELLED_BY_SHUTDOWN
    )
    assert await stored_messages(service, chat.id) == 1
    now = datetime.now(UTC)
    probe = TurnClaim("probe", now, now + timedelta(minutes=1))
    assert (await service.repository.claim_turn("u1", chat.id, probe)).id == chat.id


async def test_a_turn_only_stored_replays_from_zero_and_refuses_to_resume_later(
    service: Service,
) -> None:
    chat = await service.start_chat("u1")
    events = [e async for e in service.send_message("u1", chat.id, "not in background", "k1")]
    reply = events[-1]
    assert isinstance(reply, Completed)
    assert await status(service, chat.id, "k1") == TurnOutcome(TurnState.COMPLETED, reply.reply)
    replayed = await all_of(await watch(service, chat.id, "k1"))
    assert [e.id for e in replayed] == [1, 2]
    assert text_of(replayed) == reply.reply.content
    with pytest.raises(TurnEventsExpired):
        await watch(service, chat.id, "k1", after=1)


async def test_another_users_turn_is_not_found(service: Service) -> None:
    chat = await service.start_chat("u1")
    hold = service.gateway.hold(after_chunks=1)
    await start(service, chat.id, "mine", "k1")
    await hold.reached()
    with pytest.raises(ChatNotFound):
        await status(service, chat.id, "k1", user="u2")
    with pytest.raises(ChatNotFound):
        await watch(service, chat.id, "k1", user="u2")
    with pytest.raises(ChatNotFound):
        await service.container.cancel_turn()("u2", chat.id, "k1")
    assert (await status(service, chat.id, "k1")).state is TurnState.RUNNING
    hold.release()
    await eventually(lambda: service.work.running == 0, "the turn ended")
    assert [m.role for m in (await service.repository.get_chat("u1", chat.id)).messages] == [
        Role.SYSTEM,
        Role.USER,
        Role.ASSISTANT,
    ]
