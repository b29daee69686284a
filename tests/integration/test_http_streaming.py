"""Streaming turns and the turn guarantees over real HTTP (uvicorn), on SQLite and MariaDB."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from chatservice.adapters.fake_gateway import FakeChatGateway, ScriptedFailure, StreamHold
from chatservice.domain.errors import ProviderUnavailable
from support.http import LiveApi, LiveApiFactory, SseEvent, read_sse, unique_user
from support.waiting import eventually

SSE = {"Accept": "text/event-stream"}


async def new_chat(http: httpx.AsyncClient, user_id: str) -> str:
    response = await http.post(f"/v1/users/{user_id}/chats", json={})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def messages_path(user_id: str, chat_id: str) -> str:
    return f"/v1/users/{user_id}/chats/{chat_id}/messages"


async def stream(
    http: httpx.AsyncClient, path: str, content: str, headers: dict[str, str] | None = None
) -> list[SseEvent | str]:
    async with http.stream(
        "POST", path, json={"content": content}, headers=SSE | (headers or {})
    ) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        return [item async for item in read_sse(response)]


async def history(http: httpx.AsyncClient, user_id: str, chat_id: str) -> list[dict[str, Any]]:
    chat = (await http.get(f"/v1/users/{user_id}/chats/{chat_id}")).json()
    return list(chat["messages"])


def gateway(live: LiveApi) -> FakeChatGateway:
    fake = live.container.gateway()
    assert isinstance(fake, FakeChatGateway)
    return fake


async def test_deltas_stream_then_done_carries_the_stored_reply(
    open_live_api: LiveApiFactory, request: pytest.FixtureRequest
) -> None:
    u = unique_user("u", request)
    async with open_live_api() as live, live.client() as http:
        chat_id = await new_chat(http, u)
        events = await stream(http, messages_path(u, chat_id), "stream this, please")
        deltas = [e for e in events if isinstance(e, SseEvent) and e.event == "delta"]
        done = events[-1]
        assert isinstance(done, SseEvent) and done.event == "done"
        assert len(deltas) > 5
        numbered = [e for e in events if isinstance(e, SseEvent)]
        assert [e.id for e in numbered] == [str(n) for n in range(1, len(numbered) + 1)]
        joined = "".join(d.data["text"] for d in deltas)
        stored = await history(http, u, chat_id)
        assert joined == done.data["message"]["content"] == stored[-1]["content"]
        assert done.data["message"]["id"] == stored[-1]["id"]
        assert done.data["usage"]["completion_tokens"] > 0
        assert done.data["usage"]["estimated"] is False


async def test_the_first_delta_arrives_while_the_model_is_still_writing(
    open_live_api: LiveApiFactory, request: pytest.FixtureRequest
) -> None:
    u = unique_user("u", request)
    async with open_live_api() as live, live.client() as http:
        chat_id = await new_chat(http, u)
        hold = gateway(live).hold(after_chunks=1)
        path = messages_path(u, chat_id)
        async with http.stream("POST", path, json={"content": "hi"}, headers=SSE) as response:
            events = (e async for e in read_sse(response) if isinstance(e, SseEvent))
            # The model is held after its first chunk: only an unbuffered stream gets it out.
            first = await anext(events)
            assert first.event == "delta"
            hold.release()
            rest = [e async for e in events]
        assert rest[-1].event == "done"
        text = "".join(e.data["text"] for e in [first, *rest[:-1]])
        assert text == rest[-1].data["message"]["content"]


async def test_a_model_failure_after_the_first_delta_is_an_error_event_and_stores_nothing(
    open_live_api: LiveApiFactory, request: pytest.FixtureRequest
) -> None:
    u = unique_user("u", request)
    async with open_live_api() as live, live.client() as http:
        chat_id = await new_chat(http, u)
        before = await live.snapshot(u)
        gateway(live).fail_next(ScriptedFailure(ProviderUnavailable("upstream broke"), 3))
        events = await stream(http, messages_path(u, chat_id), "hi")
        assert [e.event for e in events if isinstance(e, SseEvent)] == ["delta"] * 3 + ["error"]
        assert [e.id for e in events if isinstance(e, SseEvent)] == ["1", "2", "3", "4"]
        error = events[-1]
        assert isinstance(error, SseEvent)
        assert error.data == {"code": "provider_unavailable", "message": "upstream broke"}
        assert await live.snapshot(u) == before
        await stream(http, messages_path(u, chat_id), "the next turn works")


async def test_a_failure_before_the_first_delta_is_an_http_status(
    open_live_api: LiveApiFactory, request: pytest.FixtureRequest
) -> None:
    u = unique_user("u", request)
    async with open_live_api() as live, live.client() as http:
        chat_id = await new_chat(http, u)
        gateway(live).fail_next(ScriptedFailure(ProviderUnavailable("down"), 0))
        failed = await http.post(messages_path(u, chat_id), json={"content": "hi"}, headers=SSE)
        assert failed.status_code == 502
        assert failed.json()["error"]["code"] == "provider_unavailable"
        unknown = await http.post(
            messages_path(u, "00000000-0000-4000-8000-000000000000"),
            json={"content": "hi"},
            headers=SSE,
        )
        assert unknown.status_code == 404


async def test_an_idle_stream_gets_ping_comments(
    open_live_api: LiveApiFactory, request: pytest.FixtureRequest
) -> None:
    u = unique_user("u", request)
    async with open_live_api(sse_ping_seconds=0.05) as live, live.client() as http:
        chat_id = await new_chat(http, u)
        # The model pauses after its first chunk until a ping has come.
        hold = gateway(live).hold(after_chunks=1)
        path = messages_path(u, chat_id)
        events: list[SseEvent | str] = []
        async with http.stream("POST", path, json={"content": "hi"}, headers=SSE) as response:
            async for item in read_sse(response):
                events.append(item)
                if item == "ping":
                    hold.release()
        assert "ping" in events
        assert isinstance(events[-1], SseEvent) and events[-1].event == "done"


async def hang_up_mid_reply(live: LiveApi, path: str, streaming: bool, hold: StreamHold) -> None:
    """Start a turn and hang up while the model is held at `hold`, answering."""
    async with live.client() as http:
        if streaming:
            async with http.stream("POST", path, json={"content": "hi"}, headers=SSE) as response:
                async for item in read_sse(response):
                    assert isinstance(item, SseEvent) and item.event == "delta"
                    break
        else:
            task = asyncio.create_task(http.post(path, json={"content": "hi"}))
            await hold.reached()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task


@pytest.mark.parametrize("streaming", [True, False], ids=["sse", "json"])
async def test_hanging_up_mid_reply_cancels_the_model_and_leaves_the_chat_as_it_was(
    open_live_api: LiveApiFactory, request: pytest.FixtureRequest, streaming: bool
) -> None:
    u = unique_user("u", request)
    async with open_live_api() as live, live.client() as http:
        chat_id = await new_chat(http, u)
        before = await live.snapshot(u)
        fake = gateway(live)
        # Held until the end: only the service cancelling the turn ends the model's call.
        hold = fake.hold(after_chunks=1)
        await hang_up_mid_reply(live, messages_path(u, chat_id), streaming, hold)
        await eventually(lambda: fake.abandoned == 1, "the model call was cancelled")

        # The claim is released as the turn is cancelled, long before it would lapse: the next
        # turn goes through.
        async def unchanged() -> bool:
            return bool(await live.snapshot(u) == before)

        await eventually(unchanged, "the chat is as it was")
        hold.release()
        response = await http.post(messages_path(u, chat_id), json={"content": "next"})
        assert response.status_code == 200, response.text
        roles = [m["role"] for m in await history(http, u, chat_id)]
        assert roles == ["system", "user", "assistant"]


async def test_racing_turns_on_one_chat_give_one_reply_and_the_rest_409(
    open_live_api: LiveApiFactory, request: pytest.FixtureRequest
) -> None:
    u = unique_user("u", request)
    async with open_live_api() as live, live.client() as http:
        chat_id = await new_chat(http, u)
        path = messages_path(u, chat_id)
        # The winner's reply is held until every other racer has had its answer.
        hold = gateway(live).hold(after_chunks=1)
        racers = [
            asyncio.create_task(http.post(path, json={"content": f"racer {i}"})) for i in range(10)
        ]
        await eventually(lambda: sum(r.done() for r in racers) == 9, "nine racers were answered")
        hold.release()
        responses = await asyncio.gather(*racers)
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200] + [409] * 9
        assert {r.json()["error"]["code"] for r in responses if r.status_code == 409} == {
            "turn_in_progress"
        }
        assert len(gateway(live).requests) == 1
        stored = await history(http, u, chat_id)
        assert [m["position"] for m in stored] == [0, 1, 2]


async def test_a_retried_idempotency_key_returns_the_stored_reply_without_a_model_call(
    open_live_api: LiveApiFactory, request: pytest.FixtureRequest
) -> None:
    u = unique_user("u", request)
    async with open_live_api() as live, live.client() as http:
        chat_id = await new_chat(http, u)
        path = messages_path(u, chat_id)
        key = {"Idempotency-Key": "key-1"}
        first = await http.post(path, json={"content": "hi"}, headers=key)
        calls = len(gateway(live).requests)
        again = await http.post(path, json={"content": "hi"}, headers=key)
        assert again.status_code == 200
        assert again.json() == first.json()
        assert len(gateway(live).requests) == calls
        streamed = await stream(http, path, "hi", headers=key)
        assert isinstance(streamed[-1], SseEvent)
        assert streamed[-1].data == first.json()
        before = await live.snapshot(u)
        reused = await http.post(path, json={"content": "another"}, headers=key)
        assert reused.status_code == 422
        assert reused.json()["error"]["code"] == "idempotency_key_reused"
        assert await live.snapshot(u) == before


async def test_a_retry_while_the_first_attempt_runs_waits_and_gets_the_same_reply(
    open_live_api: LiveApiFactory, request: pytest.FixtureRequest
) -> None:
    u = unique_user("u", request)
    async with open_live_api() as live, live.client() as http:
        chat_id = await new_chat(http, u)
        path = messages_path(u, chat_id)
        key = {"Idempotency-Key": "key-2"}
        hold = gateway(live).hold(after_chunks=1)
        first = asyncio.create_task(http.post(path, json={"content": "hi"}, headers=key))
        await hold.reached()
        second = asyncio.create_task(http.post(path, json={"content": "hi"}, headers=key))
        await eventually(lambda: active_turns(http, 2), "the retry runs beside the first attempt")
        hold.release()
        assert (await second).status_code == 200
        assert (await second).json() == (await first).json()
        assert len(gateway(live).requests) == 1
        assert len(await history(http, u, chat_id)) == 3


async def active_turns(http: httpx.AsyncClient, count: int) -> bool:
    """Whether the service's own gauge counts `count` turns under way."""
    metrics = (await http.get("/metrics")).text
    samples = {
        sample.name: sample.value
        for family in text_string_to_metric_families(metrics)
        for sample in family.samples
    }
    return samples["chatservice_active_turns"] == count
