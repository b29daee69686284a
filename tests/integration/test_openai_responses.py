"""The OpenAI Responses API with the official `openai` SDK as the client, against the service
behind a real server (uvicorn), on SQLite and MariaDB: responses, their streams (the SDK's
`responses.stream` helper and `stream=True`), conversations and their items."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import openai
import pytest
from openai import AsyncOpenAI

from chatservice.adapters.fake_gateway import FakeChatGateway
from chatservice.application.ports import CompletionRequest
from support.http import TOKEN, LiveApi, LiveApiFactory, unique_user


@asynccontextmanager
async def sdk_client(live: LiveApi, user_id: str) -> AsyncIterator[AsyncOpenAI]:
    """The SDK pointed at the service, as docs/api.md tells a user to build it."""
    client = AsyncOpenAI(
        api_key=TOKEN,
        base_url=f"{live.url}/openai/v1",
        default_headers={"X-Chatservice-User": user_id},
        max_retries=0,
    )
    async with client:
        yield client


def last_request(live: LiveApi) -> CompletionRequest:
    """What the (fake) model was asked last."""
    fake = live.container.gateway()
    assert isinstance(fake, FakeChatGateway)
    return fake.requests[-1]


async def test_a_response_is_created_retrieved_and_deleted(
    open_live_api: LiveApiFactory, request: pytest.FixtureRequest
) -> None:
    u = unique_user("u", request)
    async with open_live_api() as live, sdk_client(live, u) as client:
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


async def test_previous_response_id_continues_the_conversation(
    open_live_api: LiveApiFactory, request: pytest.FixtureRequest
) -> None:
    u = unique_user("u", request)
    async with open_live_api() as live, sdk_client(live, u) as client:
        first = await client.responses.create(model="gpt-4o-mini", input="My name is Ada.")
        second = await client.responses.create(
            model="gpt-4o-mini", input="What is my name?", previous_response_id=first.id
        )
        assert second.previous_response_id == first.id
        # The fake model says how many messages its prompt held: system, 2 of the first turn, 1.
        assert "4 messages" in second.output_text, second.output_text


async def test_the_stream_helper_gets_every_event_in_sequence(
    open_live_api: LiveApiFactory, request: pytest.FixtureRequest
) -> None:
    u = unique_user("u", request)
    async with open_live_api() as live, sdk_client(live, u) as client:
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


async def test_instructions_stand_in_for_the_system_message_of_one_response(
    open_live_api: LiveApiFactory, request: pytest.FixtureRequest
) -> None:
    u = unique_user("u", request)
    async with open_live_api() as live, sdk_client(live, u) as client:
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


async def test_max_output_tokens_and_sampling_hold_for_their_response_alone(
    open_live_api: LiveApiFactory, request: pytest.FixtureRequest
) -> None:
    u = unique_user("u", request)
    async with open_live_api() as live, sdk_client(live, u) as client:
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
