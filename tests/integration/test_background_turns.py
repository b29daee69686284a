"""Background turns over real HTTP (uvicorn), on SQLite and MariaDB: 202 at once, the status
route, the resumable events route, and cancellation. The fake model is held mid-reply
(`FakeChatGateway.hold`) wherever a test needs the turn to be running."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from chatservice.adapters.fake_gateway import FakeChatGateway, ScriptedFailure
from chatservice.domain.errors import ProviderUnavailable
from support.containers import provided
from support.http import LiveApi, LiveApiFactory, SseEvent, read_sse, unique_user
from support.process import free_port

SSE = {"Accept": "text/event-stream"}
UNKNOWN_CHAT = "00000000-0000-4000-8000-000000000000"


def gateway(live: LiveApi) -> FakeChatGateway:
    return provided(live.container.gateway, FakeChatGateway)


async def new_chat(http: httpx.AsyncClient, user: str) -> str:
    response = await http.post(f"/v1/users/{user}/chats", json={})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def turn_path(user: str, chat_id: str, request_id: str) -> str:
    return f"/v1/users/{user}/chats/{chat_id}/turns/{request_id}"


async def start_background(
    http: httpx.AsyncClient, user: str, chat_id: str, content: str, key: str | None = None
) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    return await http.post(
        f"/v1/users/{user}/chats/{chat_id}/messages",
        json={"content": content, "background": True},
        headers=headers,
    )


async def events_of(
    http: httpx.AsyncClient, url: str, count: int | None = None, **headers: str
) -> list[SseEvent]:
    """The events of `url` (all, or the first `count`, then the connection is dropped)."""
    received: list[SseEvent] = []
    async with http.stream("GET", url, headers=SSE | headers) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        async for event in read_sse(response):
            if isinstance(event, SseEvent):
                received.append(event)
                if len(received) == count:
                    break
    return received


def text_of(events: list[SseEvent]) -> str:
    return "".join(e.data["text"] for e in events if e.event == "delta")


def ids_of(events: list[SseEvent]) -> list[int]:
    return [int(e.id or "0") for e in events]


async def last_message(http: httpx.AsyncClient, user: str, chat_id: str) -> dict[str, Any]:
    chat = (await http.get(f"/v1/users/{user}/chats/{chat_id}")).json()
    message: dict[str, Any] = chat["messages"][-1]
    return message


async def test_a_background_turn_is_answered_202_and_followed_to_its_stored_reply(
    open_live_api: LiveApiFactory, request: pytest.FixtureRequest
) -> None:
    user = unique_user("bg", request)
    async with open_live_api() as live, live.client() as http:
        chat_id = await new_chat(http, user)
        hold = gateway(live).hold(after_chunks=4)
        started = await start_background(http, user, chat_id, "a long story", key="story-1")
        assert started.status_code == 202, started.text
        url = f"{turn_path(user, chat_id, 'story-1')}/events"
        assert started.json() == {"request_id": "story-1", "status": "running", "events_url": url}
        await hold.reached()
        status = await http.get(turn_path(user, chat_id, "story-1"))
        assert status.json() == {"status": "running"}

        had = await events_of(http, url, count=3)  # then the connection drops
        hold.release()
        rest = await events_of(http, url, **{"Last-Event-ID": "3"})
        done = rest[-1]
        assert done.event == "done"
        assert ids_of(had) == [1, 2, 3] and ids_of(rest)[0] > 3
        assert ids_of(rest) == sorted(set(ids_of(rest)))
        stored = await last_message(http, user, chat_id)
        assert text_of(had) + text_of(rest) == stored["content"] == done.data["message"]["content"]
        assert done.data["message"] == stored
        status = await http.get(turn_path(user, chat_id, "story-1"))
        assert status.json() == {"status": "completed", "message": stored}


async def test_a_turn_s_events_resume_after_any_id_and_last_event_id_wins_over_after(
    open_live_api: LiveApiFactory, request: pytest.FixtureRequest
) -> None:
    user = unique_user("bg", request)
    async with open_live_api() as live, live.client() as http:
        chat_id = await new_chat(http, user)
        started = await start_background(http, user, chat_id, "count the words")
        request_id = started.json()["request_id"]
        url = started.json()["events_url"]
        whole = await events_of(http, url)
        stored = await last_message(http, user, chat_id)
        assert text_of(whole) == stored["content"]
        assert ids_of(whole) == list(range(1, len(whole) + 1))
        end_id = ids_of(whole)[-1]
        for after in range(end_id):
            had = text_of([e for e in whole if int(e.id or 0) <= after])
            rest = await events_of(http, f"{url}?after=0", **{"Last-Event-ID": str(after)})
            assert had + text_of(rest) == stored["content"]
            assert all(n > after for n in ids_of(rest))
            assert (rest[-1].event, ids_of(rest)[-1]) == ("done", end_id)
            assert await events_of(http, f"{url}?after={after}") == rest
        assert await events_of(http, f"{url}?after={end_id}") == []
        status = await http.get(turn_path(user, chat_id, request_id))
        assert status.json()["status"] == "completed"


async def test_refusals_of_a_background_turn_are_answered_at_once(
    open_live_api: LiveApiFactory, request: pytest.FixtureRequest
) -> None:
    user = unique_user("bg", request)
    async with open_live_api(turns_per_minute_per_user=3) as live, live.client() as http:
        chat_id = await new_chat(http, user)
        before = await live.snapshot(user)
        unknown = await start_background(http, user, UNKNOWN_CHAT, "hi")
        assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "chat_not_found")
        wrong = await http.post(
            f"/v1/users/{user}/chats/{chat_id}/messages",
            json={"content": "hi", "background": "yes"},
        )
        assert wrong.status_code == 400
        hold = gateway(live).hold(after_chunks=1)
        assert (await start_background(http, user, chat_id, "first")).status_code == 202
        await hold.reached()
        busy = await start_background(http, user, chat_id, "second")
        assert (busy.status_code, busy.json()["error"]["code"]) == (409, "turn_in_progress")
        limited = await start_background(http, user, chat_id, "third")
        assert limited.status_code == 429 and "Retry-After" in limited.headers
        hold.release()
        assert len(before["messages"]) == 1


async def test_cancelling_a_background_turn_stops_it_and_stores_nothing(
    open_live_api: LiveApiFactory, request: pytest.FixtureRequest
) -> None:
    user = unique_user("bg", request)
    async with open_live_api() as live, live.client() as http:
        chat_id = await new_chat(http, user)
        before = await live.snapshot(user)
        hold = gateway(live).hold(after_chunks=2)
        started = await start_background(http, user, chat_id, "stop me", key="stop-1")
        await hold.reached()
        path = turn_path(user, chat_id, "stop-1")
        async with http.stream("GET", f"{path}/events", headers=SSE) as following:
            events = read_sse(following)
            assert (await anext(events)).id == "1"  # type: ignore[union-attr]
            cancelled = await http.post(f"{path}/cancel")
            assert cancelled.status_code == 202
            assert cancelled.json() == started.json()
            rest = [e async for e in events if isinstance(e, SseEvent)]
        assert rest[-1].event == "error" and rest[-1].data["code"] == "cancelled"
        assert rest[-1].id == "3"
        status = (await http.get(path)).json()
        assert status["status"] == "cancelled" and status["error"]["code"] == "cancelled"
        assert await live.snapshot(user) == before
        again = await http.post(f"{path}/cancel")
        assert (again.status_code, again.json()["error"]["code"]) == (409, "turn_ended")
        hold.release()


async def test_a_failed_background_turn_says_why(
    open_live_api: LiveApiFactory, request: pytest.FixtureRequest
) -> None:
    user = unique_user("bg", request)
    async with open_live_api() as live, live.client() as http:
        chat_id = await new_chat(http, user)
        gateway(live).fail_next(ScriptedFailure(ProviderUnavailable("upstream broke"), 2))
        started = await start_background(http, user, chat_id, "hi", key="fails")
        events = await events_of(http, started.json()["events_url"])
        assert events[-1].event == "error"
        assert events[-1].data == {"code": "provider_unavailable", "message": "upstream broke"}
        status = (await http.get(turn_path(user, chat_id, "fails"))).json()
        assert status == {"status": "failed", "error": events[-1].data}


async def test_unknown_and_foreign_turns_are_404_and_an_unkept_one_resumes_only_from_0(
    open_live_api: LiveApiFactory, request: pytest.FixtureRequest
) -> None:
    user, other = unique_user("bg", request), unique_user("other", request)
    async with open_live_api() as live, live.client() as http:
        chat_id = await new_chat(http, user)
        for path in (turn_path(user, chat_id, "nope"), turn_path(other, chat_id, "nope")):
            assert (await http.get(path)).status_code == 404
            assert (await http.get(f"{path}/events", headers=SSE)).status_code == 404
            assert (await http.post(f"{path}/cancel")).status_code == 404
        # A turn that ran in the foreground is only in the chat: completed, replayed from 0.
        sent = await http.post(
            f"/v1/users/{user}/chats/{chat_id}/messages",
            json={"content": "in the foreground"},
            headers={"Idempotency-Key": "fg-1"},
        )
        path = turn_path(user, chat_id, "fg-1")
        assert (await http.get(path)).json() == {
            "status": "completed",
            "message": sent.json()["message"],
        }
        replayed = await events_of(http, f"{path}/events")
        assert ids_of(replayed) == [1, 2]
        assert text_of(replayed) == sent.json()["message"]["content"]
        expired = await http.get(f"{path}/events", headers=SSE | {"Last-Event-ID": "1"})
        assert expired.status_code == 410
        assert expired.json()["error"]["code"] == "turn_events_expired"
        assert (await http.post(f"{path}/cancel")).status_code == 409
        assert (await http.get(turn_path(other, chat_id, "fg-1"))).status_code == 404
        bad = await http.get(f"{path}/events", headers=SSE | {"Last-Event-ID": "x"})
        assert bad.status_code == 400
        assert live.container.background_work().running == 0


async def test_a_background_turn_is_refused_while_redis_does_not_answer(
    open_live_api: LiveApiFactory, request: pytest.FixtureRequest
) -> None:
    user = unique_user("bg", request)
    closed = f"redis://127.0.0.1:{free_port()}/0"
    async with open_live_api(redis_url=closed) as live, live.client() as http:
        chat_id = await new_chat(http, user)
        before = await live.snapshot(user)
        refused = await start_background(http, user, chat_id, "hi")
        assert (refused.status_code, refused.json()["error"]["code"]) == (
            503,
            "storage_unavailable",
        )
        assert await live.snapshot(user) == before
        # A turn in the foreground needs no Redis.
        sent = await http.post(f"/v1/users/{user}/chats/{chat_id}/messages", json={"content": "hi"})
        assert sent.status_code == 200
