"""The turn use case over the in-memory repository and the fake model."""

from __future__ import annotations

import asyncio

import pytest

from chatservice.adapters.fake_gateway import ScriptedFailure
from chatservice.application.observability import current_trace_id
from chatservice.application.ports import TurnClaim
from chatservice.application.turn_events import Accepted, Completed, Delta, TurnEvent
from chatservice.domain.chat import Role
from chatservice.domain.errors import (
    ChatEnded,
    ChatNotFound,
    ConcurrentUpdate,
    IdempotencyKeyReused,
    InvalidInput,
    MessageTooLong,
    ProviderTimeout,
    ProviderUnavailable,
    TurnInProgress,
)
from support.services import Service, build_service
from support.waiting import eventually


async def collect(events: object) -> list[TurnEvent]:
    return [event async for event in events]  # type: ignore[attr-defined]


async def turn(
    service: Service, user: str, chat_id: str, text: str, key: str | None = None
) -> Completed:
    events = await collect(service.send_message(user, chat_id, text, key))
    last = events[-1]
    assert isinstance(last, Completed)
    return last


async def test_deltas_join_to_the_stored_reply(service: Service) -> None:
    chat = await service.start_chat("u1")
    events = await collect(service.send_message("u1", chat.id, "hello there"))
    deltas = [e.text for e in events if isinstance(e, Delta)]
    done = events[-1]
    assert isinstance(done, Completed)
    assert len(deltas) > 3
    assert "".join(deltas) == done.reply.content
    stored = await service.repository.get_chat("u1", chat.id)
    assert [m.role for m in stored.messages] == [Role.SYSTEM, Role.USER, Role.ASSISTANT]
    assert stored.messages[2].content == done.reply.content
    assert stored.title == "hello there"
    assert stored.version == 1


async def test_without_deltas_only_the_stored_turn_comes_back(service: Service) -> None:
    streamed_chat, quiet_chat = await service.start_chat("u1"), await service.start_chat("u1")
    streamed = await collect(service.send_message("u1", streamed_chat.id, "hello there"))
    quiet = await collect(service.send_message("u1", quiet_chat.id, "hello there", deltas=False))
    assert len(streamed) > 3
    assert len(quiet) == 1
    done = quiet[0]
    assert isinstance(done, Completed)
    assert isinstance(streamed[-1], Completed)
    assert done.reply.content == streamed[-1].reply.content
    stored = await service.repository.get_chat("u1", quiet_chat.id)
    assert stored.messages[-1] == done.reply
    assert stored.version == 1


async def test_the_reply_names_the_message_and_the_prompt_size(service: Service) -> None:
    chat = await service.start_chat("u1", system_message="Be brief.")
    done = await turn(service, "u1", chat.id, "what is 2+2?")
    assert '"what is 2+2?"' in done.reply.content
    assert "2 messages" in done.reply.content
    assert (
        done.reply.prompt_tokens is not None and str(done.reply.prompt_tokens) in done.reply.content
    )
    assert done.reply.usage_estimated is False


async def test_usage_sums_on_the_chat(service: Service) -> None:
    chat = await service.start_chat("u1")
    first = await turn(service, "u1", chat.id, "one")
    second = await turn(service, "u1", chat.id, "two")
    stored = await service.repository.get_chat("u1", chat.id)
    assert stored.usage.prompt_tokens == first.reply.prompt_tokens + second.reply.prompt_tokens  # type: ignore[operator]
    assert stored.usage.completion_tokens == (
        first.reply.completion_tokens + second.reply.completion_tokens  # type: ignore[operator]
    )


async def test_the_prompt_counted_by_us_matches_the_provider_usage_of_the_fake(
    service: Service,
) -> None:
    chat = await service.start_chat("u1")
    await turn(service, "u1", chat.id, "one")
    done = await turn(service, "u1", chat.id, "two")
    history = await service.repository.get_chat("u1", chat.id)
    assert done.reply.prompt_tokens == 3 + sum(m.tokens for m in history.messages[:-1])


async def test_old_exchanges_are_erased_and_never_sent_again() -> None:
    service = build_service(context_window=400, max_completion_tokens=100)
    chat = await service.start_chat("u1")
    for i in range(8):
        await turn(service, "u1", chat.id, f"message number {i} " + "word " * 20)
    stored = await service.repository.get_chat("u1", chat.id)
    erased = [m for m in stored.messages if m.erased]
    assert erased, "a 400-token window must have erased something"
    assert not stored.messages[0].erased
    assert not stored.messages[-1].erased and not stored.messages[-2].erased
    # Erasure is a prefix of the history after the system message, whole exchanges at a time.
    flags = [m.erased for m in stored.messages[1:]]
    assert flags == sorted(flags, reverse=True)
    assert stored.messages[len(erased)].role is Role.ASSISTANT
    last_prompt = service.gateway.requests[-1].messages
    assert all(m.content not in {e.content for e in erased} for m in last_prompt)
    assert last_prompt[0].role == Role.SYSTEM
    window = 3 + sum(m.tokens for m in stored.messages[:-1] if not m.erased)
    assert window + 100 <= 400


async def test_a_message_too_long_for_the_window_stores_nothing() -> None:
    service = build_service(context_window=300, max_completion_tokens=100)
    chat = await service.start_chat("u1")
    with pytest.raises(MessageTooLong, match="at most"):
        await turn(service, "u1", chat.id, "word " * 400)
    stored = await service.repository.get_chat("u1", chat.id)
    assert len(stored.messages) == 1 and stored.version == 0
    await turn(service, "u1", chat.id, "short works right after")


@pytest.mark.parametrize("content", ["", "   \n\t", "x" * 100_001])
async def test_bad_content_is_refused_before_anything_runs(service: Service, content: str) -> None:
    chat = await service.start_chat("u1")
    with pytest.raises(InvalidInput):
        await turn(service, "u1", chat.id, content)
    assert len(service.gateway.requests) == 0


async def test_special_token_text_is_ordinary_text(service: Service) -> None:
    chat = await service.start_chat("u1")
    done = await turn(service, "u1", chat.id, "<|endoftext|> and <|im_start|>")
    assert "<|endoftext|>" in done.reply.content


async def test_another_users_chat_is_not_found(service: Service) -> None:
    chat = await service.start_chat("alice")
    with pytest.raises(ChatNotFound):
        await turn(service, "Alice", chat.id, "hi")


async def test_an_ended_chat_takes_no_message(service: Service) -> None:
    chat = await service.start_chat("u1")
    await service.repository.end_chat("u1", chat.id, chat.created_at)
    with pytest.raises(ChatEnded):
        await turn(service, "u1", chat.id, "hi")


async def test_a_failing_model_stores_nothing_and_releases_the_chat(service: Service) -> None:
    chat = await service.start_chat("u1")
    service.gateway.fail_next(ScriptedFailure(ProviderTimeout("slow"), after_chunks=2))
    events: list[TurnEvent] = []
    with pytest.raises(ProviderTimeout):
        async for event in service.send_message("u1", chat.id, "hi"):
            events.append(event)
    assert len([event for event in events if isinstance(event, Delta)]) == 2
    assert len((await service.repository.get_chat("u1", chat.id)).messages) == 1
    await turn(service, "u1", chat.id, "again")


async def test_a_stream_without_a_finish_reason_is_an_error(service: Service) -> None:
    chat = await service.start_chat("u1")
    service.gateway.fail_next(ScriptedFailure(None, after_chunks=3))
    with pytest.raises(ProviderUnavailable, match="finish reason"):
        await turn(service, "u1", chat.id, "hi")
    assert len((await service.repository.get_chat("u1", chat.id)).messages) == 1


async def test_a_reply_cut_at_the_reserve_is_stored_with_finish_reason_length() -> None:
    service = build_service(max_completion_tokens=5)
    chat = await service.start_chat("u1")
    done = await turn(service, "u1", chat.id, "tell me everything")
    assert done.reply.finish_reason == "length"
    assert done.reply.completion_tokens is not None and done.reply.completion_tokens <= 5


async def test_a_turn_on_a_claimed_chat_is_refused_before_the_model_is_called(
    service: Service,
) -> None:
    chat = await service.start_chat("u1")
    now = chat.created_at
    await service.repository.claim_turn(
        "u1", chat.id, TurnClaim("other", now, now.replace(year=2999))
    )
    with pytest.raises(TurnInProgress):
        await turn(service, "u1", chat.id, "hi")
    assert len(service.gateway.requests) == 0


async def test_the_caller_leaving_mid_stream_stores_nothing_and_frees_the_chat(
    service: Service,
) -> None:
    chat = await service.start_chat("u1")
    events = service.send_message("u1", chat.id, "hi there")
    assert isinstance(await anext(events), Accepted)
    assert isinstance(await anext(events), Delta)
    await events.aclose()
    stored = await service.repository.get_chat("u1", chat.id)
    assert len(stored.messages) == 1
    await turn(service, "u1", chat.id, "next turn goes through")


async def test_cancelling_the_consumer_task_frees_the_chat(service: Service) -> None:
    chat = await service.start_chat("u1")
    hold = service.gateway.hold(after_chunks=1)
    task = asyncio.create_task(turn(service, "u1", chat.id, "a slow reply"))
    await hold.reached()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len((await service.repository.get_chat("u1", chat.id)).messages) == 1
    hold.release()
    await turn(service, "u1", chat.id, "free again")


async def test_a_retry_with_a_committed_key_returns_the_stored_reply(service: Service) -> None:
    chat = await service.start_chat("u1")
    first = await turn(service, "u1", chat.id, "hi", key="k1")
    calls = len(service.gateway.requests)
    again = await turn(service, "u1", chat.id, "hi", key="k1")
    assert again.reply == first.reply
    assert len(service.gateway.requests) == calls
    assert len((await service.repository.get_chat("u1", chat.id)).messages) == 3


async def test_a_turn_is_accepted_with_its_key_before_the_first_delta_and_a_replay_is_not(
    service: Service,
) -> None:
    chat = await service.start_chat("u1")
    events = await collect(service.send_message("u1", chat.id, "hi", "k1"))
    assert events[0] == Accepted("k1")
    assert isinstance(events[1], Delta)
    unnamed = await collect(service.send_message("u1", chat.id, "no key"))
    assert isinstance(unnamed[0], Accepted) and unnamed[0].idempotency_key
    replayed = await collect(service.send_message("u1", chat.id, "hi", "k1"))
    assert [type(event) for event in replayed] == [Completed]


async def test_the_model_is_told_the_trace_id_and_never_the_idempotency_key(
    service: Service,
) -> None:
    chat = await service.start_chat("u1")
    token = current_trace_id.set("trace-1")
    try:
        await turn(service, "u1", chat.id, "hi", key="k1")
    finally:
        current_trace_id.reset(token)
    await turn(service, "u1", chat.id, "no transport, no trace", key="k2")
    *_, traced, untraced = service.gateway.requests
    assert (traced.trace_id, untraced.trace_id) == ("trace-1", None)


async def test_a_key_reused_with_another_message_is_refused(service: Service) -> None:
    chat = await service.start_chat("u1")
    await turn(service, "u1", chat.id, "hi", key="k1")
    with pytest.raises(IdempotencyKeyReused):
        await turn(service, "u1", chat.id, "something else", key="k1")


async def test_a_retry_while_the_first_attempt_runs_waits_for_its_reply(
    service: Service,
) -> None:
    chat = await service.start_chat("u1")
    hold = service.gateway.hold(after_chunks=1)
    first = asyncio.create_task(turn(service, "u1", chat.id, "hi", key="k1"))
    await hold.reached()
    second = asyncio.create_task(turn(service, "u1", chat.id, "hi", key="k1"))
    await eventually(lambda: service.repository.refused_claims > 0, "the retry found it busy")
    hold.release()
    assert (await second).reply == (await first).reply
    assert len(service.gateway.requests) == 1


async def test_a_commit_that_loses_the_version_race_stores_nothing(service: Service) -> None:
    chat = await service.start_chat("u1")
    events = service.send_message("u1", chat.id, "hi")
    await anext(events)
    # The chat changes under the running turn (here: ended, which bumps the version).
    await service.repository.end_chat("u1", chat.id, chat.created_at)
    with pytest.raises(ConcurrentUpdate):
        async for _ in events:
            pass
    assert len((await service.repository.get_chat("u1", chat.id)).messages) == 1


async def test_closing_the_stream_after_completed_keeps_the_turn(service: Service) -> None:
    chat = await service.start_chat("u1")
    events = service.send_message("u1", chat.id, "hi")
    async for event in events:
        if isinstance(event, Completed):
            break
    await events.aclose()
    assert len((await service.repository.get_chat("u1", chat.id)).messages) == 3


@pytest.mark.parametrize("key", ["", "k" * 129, "café", "has space", "tab\t"])
async def test_a_malformed_idempotency_key_is_refused(service: Service, key: str) -> None:
    chat = await service.start_chat("u1")
    with pytest.raises(InvalidInput, match="idempotency key"):
        await turn(service, "u1", chat.id, "hi", key=key)
    assert len(service.gateway.requests) == 0
