"""The OpenAI Responses API with the official `openai` SDK as the client, against the service
behind a real server (uvicorn), on SQLite and MariaDB: responses, their streams (the SDK's
`responses.stream` helper and `stream=True`), conversations and their items."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any, NamedTuple

import openai
import pytest
from openai import AsyncOpenAI, OpenAI

from chatservice.adapters.fake_gateway import FakeChatGateway, ScriptedFailure
from chatservice.application.ports import CompletionRequest
from chatservice.domain.errors import ProviderUnavailable
from support.http import (
    TOKEN,
    LiveApi,
    LiveApiFactory,
    sdk_client,
    served_in_a_thread,
    unique_user,
)


class Served(NamedTuple):
    live: LiveApi
    client: AsyncOpenAI
    user: str


@pytest.fixture
async def served(
    open_live_api: LiveApiFactory, request: pytest.FixtureRequest
) -> AsyncIterator[Served]:
    """The service, and the SDK pointed at it for a user of this test's own."""
    u = unique_user("u", request)
    async with open_live_api() as live, sdk_client(live, u) as client:
        yield Served(live, client, u)


def fake(live: LiveApi) -> FakeChatGateway:
    gateway = live.container.gateway()
    assert isinstance(gateway, FakeChatGateway)
    return gateway


def last_request(live: LiveApi) -> CompletionRequest:
    """What the (fake) model was asked last."""
    return fake(live).requests[-1]


async def test_a_response_is_created_retrieved_and_deleted(served: Served) -> None:
    client = served.client
    created = await client.responses.create(model="gpt-4o-mini", input="Say hello")
    assert created.id.startswith("resp_")
    assert created.status == "completed"
    assert "Say hello" in created.output_text
    assert created.usage is not None and created.usage.total_tokens > 0
    again = await client.responses.retrieve(created.id)
    assert again.output_text == created.output_text
    assert again.status == "completed"
    items = await client.responses.input_items.list(created.id)
    assert [i.role for i in items.data] == ["user"]  # type: ignore[union-attr]
    await client.responses.delete(created.id)
    with pytest.raises(openai.NotFoundError) as missing:
        await client.responses.retrieve(created.id)
    assert missing.value.body["type"] == "invalid_request_error"  # type: ignore[index]
    assert missing.value.body["code"] == "response_not_found"  # type: ignore[index]


async def test_previous_response_id_continues_the_conversation(served: Served) -> None:
    client = served.client
    first = await client.responses.create(model="gpt-4o-mini", input="My name is Ada.")
    second = await client.responses.create(
        model="gpt-4o-mini", input="What is my name?", previous_response_id=first.id
    )
    assert second.previous_response_id == first.id
    # The fake model says how many messages its prompt held: system, 2 of the first turn, 1.
    assert "4 messages" in second.output_text, second.output_text


async def test_the_stream_helper_gets_every_event_in_sequence(served: Served) -> None:
    client = served.client
    async with client.responses.stream(
        model="gpt-4o-mini", input="stream a few words back to me"
    ) as stream:
        events = [event async for event in stream]
        final = await stream.get_final_response()
    types = [e.type for e in events]
    assert types[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert types[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas == final.output_text
    assert (await client.responses.retrieve(final.id)).output_text == final.output_text


async def test_instructions_stand_in_for_the_system_message_of_one_response(served: Served) -> None:
    live = served.live
    client = served.client
    first = await client.responses.create(
        model="gpt-4o-mini", input="hello", instructions="Answer like a pirate."
    )
    prompt = last_request(live).messages
    assert prompt[0].role == "system" and prompt[0].content == "Answer like a pirate."
    assert first.instructions == "Answer like a pirate."
    await client.responses.create(
        model="gpt-4o-mini", input="and now?", previous_response_id=first.id
    )
    assert last_request(live).messages[0].content != "Answer like a pirate."


async def test_max_output_tokens_and_sampling_hold_for_their_response_alone(served: Served) -> None:
    live = served.live
    client = served.client
    first = await client.responses.create(
        model="gpt-4o-mini", input="hello", max_output_tokens=17, temperature=0.5, top_p=0.25
    )
    params = last_request(live).params
    assert (params.max_completion_tokens, params.temperature, params.top_p) == (17, 0.5, 0.25)
    assert (first.max_output_tokens, first.temperature, first.top_p) == (17, 0.5, 0.25)
    await client.responses.create(input="again", previous_response_id=first.id)
    params = last_request(live).params
    assert (params.max_completion_tokens, params.temperature) != (17, 0.5)


async def test_truncation_disabled_refuses_a_conversation_that_no_longer_fits(
    open_live_api: LiveApiFactory, request: pytest.FixtureRequest
) -> None:
    u = unique_user("u", request)
    async with (
        open_live_api(context_window=400, max_completion_tokens=100) as live,
        sdk_client(live, u) as client,
    ):
        previous = None
        for n in range(6):  # enough words to fill a 400-token window
            made = await client.responses.create(
                input=f"turn {n}: " + "lorem ipsum dolor sit amet " * 6,
                previous_response_id=previous,
            )
            previous = made.id
        before = await live.snapshot(u)
        with pytest.raises(openai.BadRequestError) as refused:
            await client.responses.create(
                input="one more " * 10, previous_response_id=previous, truncation="disabled"
            )
        assert refused.value.body["code"] == "context_length_exceeded"  # type: ignore[index]
        assert await live.snapshot(u) == before
        # The window rule, OpenAI's `auto`, lets the oldest exchanges go instead.
        await client.responses.create(
            input="one more " * 10, previous_response_id=previous, truncation="auto"
        )


async def test_continuing_from_an_earlier_response_forks_its_conversation(served: Served) -> None:
    client = served.client
    first = await client.responses.create(input="My name is Ada.")
    second = await client.responses.create(input="I live in London.", previous_response_id=first.id)
    branch = await client.responses.create(input="Where do I live?", previous_response_id=first.id)
    # The branch's prompt: system, the first exchange, its question; not the second one.
    assert "4 messages" in branch.output_text, branch.output_text
    again = await client.responses.create(input="And now?", previous_response_id=second.id)
    assert "6 messages" in again.output_text, again.output_text
    # The branch goes on where it forked, as its own conversation now.
    onwards = await client.responses.create(input="Go on.", previous_response_id=branch.id)
    assert "6 messages" in onwards.output_text, onwards.output_text


async def test_a_background_response_streams_and_resumes_from_a_sequence_number(
    served: Served,
) -> None:
    live = served.live
    client = served.client
    hold = fake(live).hold(after_chunks=3)
    started = await client.responses.create(
        input="tell me a long story, please, in many words", background=True
    )
    assert started.status == "in_progress" and started.background
    await hold.reached()
    assert (await client.responses.retrieve(started.id)).status == "in_progress"
    # A first reader takes the events up to the hold, then leaves.
    seen = []
    async with client.responses.stream(response_id=started.id) as first:
        async for event in first:
            seen.append(event)
            if event.type == "response.output_text.delta" and len(seen) == 7:
                break
    assert [e.sequence_number for e in seen] == list(range(7))
    # A second reader resumes after the last one it had, while the response runs: no gap,
    # no repeat.
    resumed = await client.responses.retrieve(started.id, stream=True, starting_after=6)
    hold.release()
    events = [event async for event in resumed]
    assert [e.sequence_number for e in events] == list(range(7, 7 + len(events)))
    assert events[-1].type == "response.completed"
    done = await client.responses.retrieve(started.id)
    assert done.status == "completed" and text_of(seen, events) == done.output_text
    # Once it has ended, the rest may come coalesced: numbers still increasing, the text
    # adding up to the reply.
    late = await client.responses.retrieve(started.id, stream=True, starting_after=6)
    rest = [event async for event in late]
    numbers = [e.sequence_number for e in rest]
    assert numbers == sorted(set(numbers)) and numbers[0] > 6
    assert text_of(seen, rest) == done.output_text


def text_of(*streams: list[Any]) -> str:
    return "".join(
        e.delta for events in streams for e in events if e.type == "response.output_text.delta"
    )


async def test_a_cancelled_background_response_stores_nothing(served: Served) -> None:
    live = served.live
    client = served.client
    u = served.user
    conversation = await client.conversations.create(metadata={"topic": "cancel"})
    before = await live.snapshot(u)
    hold = fake(live).hold(after_chunks=1)
    started = await client.responses.create(
        input="hello", background=True, conversation=conversation.id
    )
    await hold.reached()
    cancelled = await client.responses.cancel(started.id)
    assert cancelled.status == "cancelled"
    assert cancelled.error is not None and cancelled.error.code == "cancelled"
    assert (await client.responses.retrieve(started.id)).status == "cancelled"
    assert await live.snapshot(u) == before
    items = await client.conversations.items.list(conversation.id)
    assert items.data == []
    with pytest.raises(openai.ConflictError):
        await client.responses.cancel(started.id)


async def test_conversations_hold_their_responses_as_items(served: Served) -> None:
    client = served.client
    conversation = await client.conversations.create(metadata={"topic": "greetings"})
    assert conversation.id.startswith("conv_")
    got = await client.conversations.retrieve(conversation.id)
    assert got.metadata == {"topic": "greetings"}
    first = await client.responses.create(input="hello", conversation=conversation.id)
    assert first.conversation is not None and first.conversation.id == conversation.id
    await client.responses.create(input="and again", conversation=conversation.id)
    items = await client.conversations.items.list(conversation.id, order="asc")
    roles = [item.role for item in items.data]  # type: ignore[union-attr]
    assert roles == ["user", "assistant", "user", "assistant"]
    texts = [item.content[0].text for item in items.data]  # type: ignore[union-attr]
    assert texts[0] == "hello" and texts[1] == first.output_text
    page = await client.conversations.items.list(conversation.id, limit=1)
    assert page.has_more and page.data[0].id == items.data[-1].id
    deleted = await client.conversations.delete(conversation.id)
    assert deleted.deleted
    with pytest.raises(openai.NotFoundError):
        await client.conversations.retrieve(conversation.id)
    with pytest.raises(openai.NotFoundError):
        await client.responses.retrieve(first.id)


async def test_items_added_to_a_conversation_are_its_history(served: Served) -> None:
    client = served.client
    conversation = await client.conversations.create(
        items=[{"role": "user", "content": "My name is Ada."}]
    )
    added = await client.conversations.items.create(
        conversation.id,
        items=[
            {"role": "assistant", "content": "Hello, Ada."},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hi"}]},
        ],
    )
    assert [item.role for item in added.data] == ["assistant", "user"]  # type: ignore[union-attr]
    reply = await client.responses.create(input="What is my name?", conversation=conversation.id)
    # The model saw the system message, the three items, and the new question.
    assert "5 messages" in reply.output_text, reply.output_text
    items = await client.conversations.items.list(conversation.id, order="asc")
    texts = [item.content[0].text for item in items.data]  # type: ignore[union-attr]
    assert texts[:3] == ["My name is Ada.", "Hello, Ada.", "Hi"]
    with pytest.raises(openai.BadRequestError):
        await client.conversations.items.create(
            conversation.id, items=[{"role": "system", "content": "no"}]
        )


async def test_a_failed_response_stores_nothing_and_a_failing_stream_ends_failed(
    served: Served,
) -> None:
    live, client, u = served
    fake(live).fail_next(ScriptedFailure(ProviderUnavailable("down")))
    before = await live.snapshot(u)
    with pytest.raises(openai.APIStatusError) as failed:
        await client.responses.create(input="hello")
    assert failed.value.status_code == 502
    assert failed.value.body["code"] == "provider_unavailable"  # type: ignore[index]
    assert await live.snapshot(u) == before
    first = await client.responses.create(input="hello")
    fake(live).fail_next(ScriptedFailure(ProviderUnavailable("cut"), after_chunks=2))
    stream = await client.responses.create(
        input="again", previous_response_id=first.id, stream=True
    )
    events = [event async for event in stream]
    assert events[-1].type == "response.failed"
    assert events[-1].response.error is not None  # type: ignore[union-attr]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    # Nothing of the failed turn is stored: the response continues from the first.
    again = await client.responses.create(input="and now", previous_response_id=first.id)
    assert "4 messages" in again.output_text, again.output_text


def test_the_readme_example_with_the_synchronous_client(database_url: str) -> None:
    with served_in_a_thread(database_url) as url:
        client = OpenAI(
            api_key=TOKEN,
            base_url=f"{url}/openai/v1",
            default_headers={"X-Chatservice-User": f"readme-{uuid.uuid4().hex[:8]}"},
            max_retries=0,
        )
        with client:
            first = client.responses.create(model="gpt-4o-mini", input="My name is Ada.")
            second = client.responses.create(
                model="gpt-4o-mini", input="What is my name?", previous_response_id=first.id
            )
            assert "What is my name?" in second.output_text
            with client.responses.stream(model="gpt-4o-mini", input="and stream") as stream:
                final = stream.get_final_response()
            assert final.status == "completed" and final.output_text
