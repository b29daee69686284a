"""Regenerate, edit and fork over the in-memory repository and the fake model: the turn rules
of a message (one commit, nothing stored on failure, idempotency, one turn at a time)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import pytest
from dependency_injector import providers

from chatservice.adapters.fake_gateway import ScriptedFailure
from chatservice.adapters.memory_rate_limiter import MemoryTurnRateLimiter
from chatservice.application.turn_events import Accepted, Completed, Delta, TurnEvent
from chatservice.domain.chat import Chat, ForkOrigin, Role
from chatservice.domain.errors import (
    ChatNotFound,
    IdempotencyKeyReused,
    InvalidInput,
    MessageNotFound,
    MessageSuperseded,
    NothingToRegenerate,
    NotLastUserMessage,
    ProviderTimeout,
    RateLimited,
    TurnInProgress,
)
from support.services import Service, build_service
from support.waiting import eventually


async def completed(events: AsyncGenerator[TurnEvent, None]) -> Completed:
    *_, last = [event async for event in events]
    assert isinstance(last, Completed)
    return last


async def talked(service: Service, *questions: str) -> Chat:
    """A chat of u1 in which each of `questions` was answered."""
    chat = await service.start_chat("u1")
    for question in questions:
        await completed(service.send_message("u1", chat.id, question))
    return await service.repository.get_chat("u1", chat.id)


async def test_a_regenerated_reply_supersedes_the_last_one_in_the_same_commit(
    service: Service,
) -> None:
    chat = await talked(service, "first question", "second question")
    old_reply = chat.messages[-1]
    done = await completed(service.regenerate_reply("u1", chat.id))
    stored = await service.repository.get_chat("u1", chat.id)
    assert stored.version == chat.version + 1
    assert [m.superseded for m in stored.messages] == [False] * 4 + [True, False]
    assert stored.messages[-2].id == old_reply.id
    new_reply = stored.messages[-1]
    assert (new_reply, new_reply.replaces, new_reply.position) == (done.reply, old_reply.id, 5)
    assert done.user_message == stored.messages[3]  # the stored question, answered again
    # The model was asked the same question after the same history, without the old reply.
    prompt = [m.content for m in service.gateway.requests[-1].messages]
    assert prompt == [m.content for m in chat.messages[:4]]
    assert stored.usage.prompt_tokens == chat.usage.prompt_tokens + done.reply.prompt_tokens  # type: ignore[operator]


async def test_a_superseded_reply_never_reaches_the_model_again(service: Service) -> None:
    chat = await talked(service, "question")
    await completed(service.regenerate_reply("u1", chat.id))
    await completed(service.send_message("u1", chat.id, "next"))
    # The fake answers alike each time, so the count tells: system, question, new reply, next.
    assert len(service.gateway.requests[-1].messages) == 4
    stored = await service.repository.get_chat("u1", chat.id)
    assert [m.superseded for m in stored.messages] == [False, False, True, False, False, False]


async def test_regenerating_a_chat_without_a_question_is_refused_and_frees_it(
    service: Service,
) -> None:
    chat = await service.start_chat("u1")
    with pytest.raises(NothingToRegenerate):
        await completed(service.regenerate_reply("u1", chat.id))
    assert (await service.repository.get_chat("u1", chat.id)).version == 0
    assert not service.gateway.requests
    await completed(service.send_message("u1", chat.id, "the chat is free"))


async def test_a_regenerate_whose_model_fails_stores_nothing(service: Service) -> None:
    chat = await talked(service, "question")
    service.gateway.fail_next(ScriptedFailure(ProviderTimeout("slow"), after_chunks=2))
    with pytest.raises(ProviderTimeout):
        await completed(service.regenerate_reply("u1", chat.id))
    assert await service.repository.get_chat("u1", chat.id) == chat
    await completed(service.regenerate_reply("u1", chat.id))


async def test_a_regenerate_retried_with_its_key_returns_the_stored_reply(
    service: Service,
) -> None:
    chat = await talked(service, "question")
    first = await completed(service.regenerate_reply("u1", chat.id, "k1"))
    calls = len(service.gateway.requests)
    again = await completed(service.regenerate_reply("u1", chat.id, "k1"))
    assert (again.reply, again.replayed) == (first.reply, True)
    assert len(service.gateway.requests) == calls
    with pytest.raises(IdempotencyKeyReused):
        await completed(service.send_message("u1", chat.id, "question", "k1"))
    with pytest.raises(IdempotencyKeyReused):
        await completed(service.edit_message("u1", chat.id, chat.messages[1].id, "x", "k1"))


async def test_a_message_key_is_not_a_regenerate_key(service: Service) -> None:
    chat = await service.start_chat("u1")
    await completed(service.send_message("u1", chat.id, "question", "k1"))
    with pytest.raises(IdempotencyKeyReused):
        await completed(service.regenerate_reply("u1", chat.id, "k1"))


async def test_a_regenerate_waits_for_no_turn_it_is_refused_while_one_runs(
    service: Service,
) -> None:
    chat = await talked(service, "question")
    hold = service.gateway.hold(after_chunks=1)
    running = asyncio.create_task(completed(service.send_message("u1", chat.id, "slow")))
    await hold.reached()
    with pytest.raises(TurnInProgress):
        await completed(service.regenerate_reply("u1", chat.id))
    with pytest.raises(TurnInProgress):
        await completed(service.edit_message("u1", chat.id, chat.messages[1].id, "new"))
    with pytest.raises(TurnInProgress):
        await service.fork_chat("u1", chat.id, chat.messages[1].id)
    hold.release()
    await running


async def test_an_edit_supersedes_the_last_question_and_its_reply(service: Service) -> None:
    chat = await talked(service, "first question", "second question")
    question = chat.messages[3]
    events = [e async for e in service.edit_message("u1", chat.id, question.id, "edited text")]
    assert isinstance(events[0], Accepted) and isinstance(events[1], Delta)
    done = events[-1]
    assert isinstance(done, Completed)
    stored = await service.repository.get_chat("u1", chat.id)
    assert [(m.role, m.content, m.superseded) for m in stored.messages[3:]] == [
        (Role.USER, "second question", True),
        (Role.ASSISTANT, chat.messages[4].content, True),
        (Role.USER, "edited text", False),
        (Role.ASSISTANT, done.reply.content, False),
    ]
    assert (done.user_message.replaces, done.user_message.position) == (question.id, 5)
    prompt = [m.content for m in service.gateway.requests[-1].messages]
    assert prompt == [*(m.content for m in chat.messages[:3]), "edited text"]
    assert stored.version == chat.version + 1


async def test_only_the_last_question_can_be_edited(service: Service) -> None:
    chat = await talked(service, "first question", "second question")
    with pytest.raises(NotLastUserMessage):
        await completed(service.edit_message("u1", chat.id, chat.messages[1].id, "new"))
    with pytest.raises(NotLastUserMessage):  # a reply is no question
        await completed(service.edit_message("u1", chat.id, chat.messages[4].id, "new"))
    with pytest.raises(MessageNotFound):
        await completed(service.edit_message("u1", chat.id, "no-such-message", "new"))
    await completed(service.edit_message("u1", chat.id, chat.messages[3].id, "edited"))
    with pytest.raises(NotLastUserMessage):  # now superseded
        await completed(service.edit_message("u1", chat.id, chat.messages[3].id, "again"))
    assert len(service.gateway.requests) == 3


async def test_an_edit_is_checked_like_a_message(service: Service) -> None:
    chat = await talked(service, "question")
    with pytest.raises(InvalidInput):
        await completed(service.edit_message("u1", chat.id, chat.messages[1].id, "   "))
    with pytest.raises(InvalidInput):
        await completed(service.edit_message("u1", chat.id, "", "text"))
    assert await service.repository.get_chat("u1", chat.id) == chat


async def test_an_edit_retried_with_its_key_returns_the_stored_reply(service: Service) -> None:
    chat = await talked(service, "question")
    question = chat.messages[1].id
    first = await completed(service.edit_message("u1", chat.id, question, "edited", "k1"))
    again = await completed(service.edit_message("u1", chat.id, question, "edited", "k1"))
    assert (again.reply, again.replayed) == (first.reply, True)
    with pytest.raises(IdempotencyKeyReused):
        await completed(service.edit_message("u1", chat.id, question, "other text", "k1"))
    with pytest.raises(IdempotencyKeyReused):
        await completed(service.send_message("u1", chat.id, "edited", "k1"))


async def test_a_fork_copies_the_current_history_up_to_the_message(service: Service) -> None:
    chat = await talked(service, "first question", "second question")
    await completed(service.regenerate_reply("u1", chat.id))
    original = await service.repository.get_chat("u1", chat.id)
    point = original.messages[-1]  # the regenerated reply
    fork = await service.fork_chat("u1", chat.id, point.id)
    assert fork.forked_from == ForkOrigin(chat.id, point.id)
    assert [m.content for m in fork.messages] == [
        m.content for m in original.messages if not m.superseded
    ]
    assert (fork.user_id, fork.model, fork.params) == ("u1", chat.model, chat.params)
    assert await service.repository.get_chat("u1", fork.id) == fork
    assert await service.repository.get_chat("u1", chat.id) == original
    # The fork carries on by itself.
    done = await completed(service.send_message("u1", fork.id, "in the fork"))
    assert len(service.gateway.requests[-1].messages) == 6
    assert done.reply.position == 6


async def test_a_fork_is_refused_from_elsewhere(service: Service) -> None:
    chat = await talked(service, "question")
    other = await talked(service, "other chat")
    with pytest.raises(MessageNotFound):
        await service.fork_chat("u1", chat.id, other.messages[1].id)
    with pytest.raises(ChatNotFound):
        await service.fork_chat("u2", chat.id, chat.messages[1].id)
    await completed(service.regenerate_reply("u1", chat.id))
    with pytest.raises(MessageSuperseded):
        await service.fork_chat("u1", chat.id, chat.messages[2].id)
    assert len(await service.repository.list_chats("u1", 10, None)) == 2


async def test_a_fork_retried_with_its_key_is_the_same_fork(service: Service) -> None:
    chat = await talked(service, "question")
    first = await service.fork_chat("u1", chat.id, chat.messages[1].id, "k1")
    assert await service.fork_chat("u1", chat.id, chat.messages[1].id, "k1") == first
    assert first.forked_from == ForkOrigin(chat.id, chat.messages[1].id, "k1")
    with pytest.raises(IdempotencyKeyReused):
        await service.fork_chat("u1", chat.id, chat.messages[2].id, "k1")
    assert len(await service.repository.list_chats("u1", 10, None)) == 2


async def test_two_forks_with_one_key_at_once_make_one_chat(service: Service) -> None:
    chat = await talked(service, "question")
    forks = await asyncio.gather(
        *(service.fork_chat("u1", chat.id, chat.messages[2].id, "k1") for _ in range(3))
    )
    assert len({fork.id for fork in forks}) == 1
    assert len(await service.repository.list_chats("u1", 10, None)) == 2


async def test_the_window_is_what_the_next_prompt_holds_before_its_message(
    service: Service,
) -> None:
    chat = await talked(service, "question", "another")
    window = (await service.container.get_chat()("u1", chat.id)).window
    assert window is not None
    await completed(service.send_message("u1", chat.id, "x"))
    next_prompt = service.gateway.requests[-1]
    stored = await service.repository.get_chat("u1", chat.id)
    new_message = stored.messages[-2]
    assert next_prompt.messages[-1].content == "x" and new_message.role is Role.USER
    reply = stored.messages[-1]
    assert window.used == reply.prompt_tokens - new_message.tokens  # type: ignore[operator]
    assert (window.reserve, window.limit) == (chat.params.max_completion_tokens, 128_000)


async def test_a_regenerate_retried_while_the_first_attempt_runs_waits_for_its_reply(
    service: Service,
) -> None:
    chat = await talked(service, "question")
    hold = service.gateway.hold(after_chunks=1)
    first = asyncio.create_task(completed(service.regenerate_reply("u1", chat.id, "k1")))
    await hold.reached()
    second = asyncio.create_task(completed(service.regenerate_reply("u1", chat.id, "k1")))
    await eventually(lambda: service.repository.refused_claims > 0, "the retry found it busy")
    hold.release()
    assert (await second).reply == (await first).reply
    assert len(service.gateway.requests) == 2  # the first turn's, and the first attempt's
    stored = await service.repository.get_chat("u1", chat.id)
    assert [m.superseded for m in stored.messages] == [False, False, True, False]


async def test_messages_regenerates_and_edits_count_against_one_rate_limit() -> None:
    # A clock that stands still: however slow the machine, no counted turn leaves the minute.
    limiter = providers.Singleton(MemoryTurnRateLimiter, 3, lambda: 0.0)
    service = build_service({"local_rate_limiter": limiter})
    chat = await talked(service, "question")
    await completed(service.regenerate_reply("u1", chat.id))
    question = (await service.repository.get_chat("u1", chat.id)).messages[1]
    await completed(service.edit_message("u1", chat.id, question.id, "edited"))

    for refused in (
        service.send_message("u1", chat.id, "one more"),
        service.regenerate_reply("u1", chat.id),
        service.edit_message("u1", chat.id, question.id, "again"),
    ):
        with pytest.raises(RateLimited):
            await completed(refused)
    assert len(service.gateway.requests) == 3
