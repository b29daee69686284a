"""Responses as turns, over the in-memory stores and the fake model: what a refused, failed or
abandoned response leaves behind (nothing), and which chat a response is a turn of."""

from __future__ import annotations

from contextlib import aclosing
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from dependency_injector import providers

from chatservice.adapters.fake_gateway import ScriptedFailure
from chatservice.adapters.memory_response_store import InMemoryResponseStore
from chatservice.application.clock import utc_now
from chatservice.application.responses import NewResponse, StartedResponse
from chatservice.application.turn_events import Completed, Delta, run_to_completion
from chatservice.domain.chat import Chat
from chatservice.domain.errors import ChatNotFound, InvalidInput, ProviderUnavailable
from chatservice.domain.responses import ResponseNotFound, conversation_id
from support.containers import provided
from support.services import Service, build_service


@dataclass
class SettableClock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def service() -> Service:
    return build_service()


def store(service: Service) -> InMemoryResponseStore:
    return provided(service.container.response_store, InMemoryResponseStore)


async def respond(service: Service, new: NewResponse) -> tuple[StartedResponse, Completed]:
    started = await service.container.create_response()(new)
    assert started.events is not None
    return started, await run_to_completion(started.events)


async def chats_of(service: Service, user: str) -> list[Chat]:
    return (await service.container.list_chats()(user)).items


async def test_a_response_without_a_conversation_is_the_first_turn_of_a_chat_of_its_own(
    service: Service,
) -> None:
    started, completed = await respond(service, NewResponse("ada", "hello"))
    record = started.record
    assert record.id.startswith("resp_") and record.chat_id == completed.chat_id
    assert await store(service).find_response("ada", record.id) == record
    assert [c.id for c in await chats_of(service, "ada")] == [record.chat_id]


async def test_a_response_that_fails_leaves_neither_its_record_nor_the_chat_made_for_it(
    service: Service,
) -> None:
    service.gateway.fail_next(ScriptedFailure(ProviderUnavailable("down")))
    started = await service.container.create_response()(NewResponse("ada", "hello"))
    assert started.events is not None
    with pytest.raises(ProviderUnavailable):
        await run_to_completion(started.events)
    assert await store(service).find_response("ada", started.record.id) is None
    assert await chats_of(service, "ada") == []


async def test_an_abandoned_response_in_a_conversation_leaves_the_conversation_as_it_was(
    service: Service,
) -> None:
    chat = await service.start_chat("ada")
    new = NewResponse("ada", "hello", conversation=conversation_id(chat.id))
    started = await service.container.create_response()(new)
    assert started.events is not None
    async with aclosing(started.events) as events:
        async for event in events:
            if isinstance(event, Delta):
                break  # the caller goes away mid-reply
    assert await store(service).find_response("ada", started.record.id) is None
    kept = await service.repository.get_chat("ada", chat.id)
    assert [m.role for m in kept.messages] == ["system"]


async def test_refused_responses_store_nothing(service: Service) -> None:
    first, _ = await respond(service, NewResponse("ada", "hello"))
    refusals = [
        (
            NewResponse("ada", "hi", conversation="conv_x", previous_response_id=first.record.id),
            InvalidInput,
        ),
        (NewResponse("ada", "hi", previous_response_id="resp_unknown"), ResponseNotFound),
        (NewResponse("bob", "hi", previous_response_id=first.record.id), ResponseNotFound),
        (NewResponse("ada", "hi", conversation="conv_unknown"), ChatNotFound),
        (
            NewResponse("ada", "hi", model="gpt-4o", previous_response_id=first.record.id),
            InvalidInput,
        ),
        (NewResponse("ada", "hi", metadata={"k" * 65: "v"}), InvalidInput),
    ]
    for new, error in refusals:
        with pytest.raises(error):
            await service.container.create_response()(new)
    assert [c.id for c in await chats_of(service, "ada")] == [first.record.chat_id]
    assert await chats_of(service, "bob") == []


async def test_another_model_from_an_earlier_response_is_refused_before_any_fork(
    service: Service,
) -> None:
    first, _ = await respond(service, NewResponse("ada", "hello"))
    await respond(service, NewResponse("ada", "again", previous_response_id=first.record.id))
    other_model = NewResponse("ada", "hi", model="gpt-4o", previous_response_id=first.record.id)
    with pytest.raises(InvalidInput):
        await service.container.create_response()(other_model)
    assert [c.id for c in await chats_of(service, "ada")] == [first.record.chat_id]


async def test_an_earlier_previous_response_is_continued_on_a_fork(service: Service) -> None:
    first, _ = await respond(service, NewResponse("ada", "one"))
    await respond(service, NewResponse("ada", "two", previous_response_id=first.record.id))
    branch, _ = await respond(
        service, NewResponse("ada", "branch", previous_response_id=first.record.id)
    )
    forked = await service.repository.get_chat("ada", branch.record.chat_id)
    assert forked.forked_from is not None
    assert forked.forked_from.chat_id == first.record.chat_id
    assert [m.content for m in forked.messages][1:4] == [
        "one",
        forked.messages[2].content,
        "branch",
    ]


async def test_a_response_reads_in_progress_while_its_turn_runs(service: Service) -> None:
    hold = service.gateway.hold(after_chunks=1)
    started = await service.container.create_response()(NewResponse("ada", "hello"))
    assert started.events is not None
    async with aclosing(started.events) as events:
        async for event in events:
            if isinstance(event, Delta):
                break
        view = await service.container.get_response()("ada", started.record.id)
        assert view.outcome.state == "running"
        hold.release()
        async for _ in events:
            pass
    view = await service.container.get_response()("ada", started.record.id)
    assert view.outcome.state == "completed" and view.reply is not None


async def test_a_response_whose_turn_has_not_claimed_yet_reads_in_progress_not_lost(
    service: Service,
) -> None:
    """Its record is stored before its turn claims the chat, which may wait behind another."""
    started = await service.container.create_response()(NewResponse("ada", "hello"))
    assert started.events is not None
    async with aclosing(started.events) as events:
        view = await service.container.get_response()("ada", started.record.id)
        assert view.outcome.state == "running"
        await run_to_completion(events)
    view = await service.container.get_response()("ada", started.record.id)
    assert view.outcome.state == "completed"


async def test_a_response_whose_turn_never_claimed_within_a_claims_lifetime_reads_lost() -> None:
    clock = SettableClock(utc_now())
    service = build_service({"clock": providers.Object(clock)})
    started = await service.container.create_response()(NewResponse("ada", "hello"))
    assert started.events is not None
    await started.events.aclose()  # never run: as if its replica died before the turn began
    get_response = service.container.get_response()
    ttl = timedelta(seconds=service.container.policy().claim_ttl_seconds)
    clock.now = started.record.created_at + ttl - timedelta(microseconds=1)
    assert (await get_response("ada", started.record.id)).outcome.state == "running"
    clock.now = started.record.created_at + ttl
    view = await get_response("ada", started.record.id)
    assert view.outcome.state == "failed"
    assert view.outcome.error is not None and view.outcome.error.code == "response_lost"
