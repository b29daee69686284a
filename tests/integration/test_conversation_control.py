"""Regenerate, edit and fork over real HTTP (uvicorn), on SQLite and MariaDB: JSON, SSE and
background turns, their refusals storing nothing, and the window on the chat."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from chatservice.adapters.fake_gateway import FakeChatGateway
from support.containers import provided
from support.http import LiveApi, LiveApiFactory, SseEvent, read_sse, unique_user

SSE = {"Accept": "text/event-stream"}


def gateway(live: LiveApi) -> FakeChatGateway:
    return provided(live.container.gateway, FakeChatGateway)


def chat_path(user: str, chat_id: str) -> str:
    return f"/v1/users/{user}/chats/{chat_id}"


async def talked(http: httpx.AsyncClient, user: str, *questions: str) -> str:
    """A new chat of `user` in which each of `questions` was answered."""
    response = await http.post(f"/v1/users/{user}/chats", json={})
    assert response.status_code == 201, response.text
    chat_id = str(response.json()["id"])
    for question in questions:
        said = await http.post(f"{chat_path(user, chat_id)}/messages", json={"content": question})
        assert said.status_code == 200, said.text
    return chat_id


async def read(http: httpx.AsyncClient, user: str, chat_id: str) -> dict[str, Any]:
    response = await http.get(chat_path(user, chat_id))
    assert response.status_code == 200, response.text
    chat: dict[str, Any] = response.json()
    return chat


def superseded(chat: dict[str, Any]) -> list[bool]:
    return [m["superseded"] for m in chat["messages"]]


async def streamed(response: httpx.Response) -> list[SseEvent]:
    assert response.status_code == 200, await response.aread()
    return [event async for event in read_sse(response) if isinstance(event, SseEvent)]


async def test_a_regenerated_reply_supersedes_the_last_one(
    open_live_api: LiveApiFactory, request: pytest.FixtureRequest
) -> None:
    user = unique_user("ctl", request)
    async with open_live_api() as live, live.client() as http:
        chat_id = await talked(http, user, "first", "second")
        before = await read(http, user, chat_id)
        response = await http.post(f"{chat_path(user, chat_id)}/regenerate", json={})
        assert response.status_code == 200, response.text
        after = await read(http, user, chat_id)
        assert superseded(after) == [False] * 4 + [True, False]
        assert after["messages"][4] == {**before["messages"][4], "superseded": True}
        assert response.json()["message"] == after["messages"][-1]
        assert after["version"] == before["version"] + 1
        # Without a body too, and the key of a stored regenerate returns its reply again.
        keyed = {"Idempotency-Key": "again-1"}
        first = await http.post(f"{chat_path(user, chat_id)}/regenerate", headers=keyed)
        second = await http.post(f"{chat_path(user, chat_id)}/regenerate", headers=keyed)
        assert first.status_code == second.status_code == 200, second.text
        assert first.json() == second.json()
        assert len((await read(http, user, chat_id))["messages"]) == 7


async def test_refused_regenerates_and_edits_store_nothing(
    open_live_api: LiveApiFactory, request: pytest.FixtureRequest
) -> None:
    user = unique_user("ctl", request)
    async with open_live_api() as live, live.client() as http:
        empty = await talked(http, user)
        chat_id = await talked(http, user, "first", "second")
        chat = await read(http, user, chat_id)
        other = await talked(http, user, "elsewhere")
        elsewhere = (await read(http, user, other))["messages"][1]["id"]
        before = await live.snapshot(user)
        refusals = [
            (f"{chat_path(user, empty)}/regenerate", {}, 409, "nothing_to_regenerate"),
            (
                f"{chat_path(user, chat_id)}/messages/{chat['messages'][1]['id']}/edit",
                {"content": "new"},
                409,
                "not_last_user_message",
            ),
            (
                f"{chat_path(user, chat_id)}/messages/{elsewhere}/edit",
                {"content": "new"},
                404,
                "message_not_found",
            ),
            (
                f"{chat_path(user + '-x', chat_id)}/messages/{chat['messages'][3]['id']}/edit",
                {"content": "new"},
                404,
                "chat_not_found",
            ),
            (
                f"{chat_path(user, chat_id)}/messages/{chat['messages'][3]['id']}/edit",
                {"content": "  "},
                400,
                "invalid_input",
            ),
            (f"{chat_path(user, chat_id)}/regenerate", {"extra": 1}, 400, "invalid_input"),
        ]
        for url, body, status, code in refusals:
            for headers in ({}, SSE):
                response = await http.post(url, json=body, headers=headers)
                assert response.status_code == status, (url, response.text)
                assert response.json()["error"]["code"] == code
        assert await live.snapshot(user) == before


async def test_an_edit_streams_its_reply_and_supersedes_the_question_and_its_reply(
    open_live_api: LiveApiFactory, request: pytest.FixtureRequest
) -> None:
    user = unique_user("ctl", request)
    async with open_live_api() as live, live.client() as http:
        chat_id = await talked(http, user, "first", "second")
        question = (await read(http, user, chat_id))["messages"][3]
        url = f"{chat_path(user, chat_id)}/messages/{question['id']}/edit"
        async with http.stream("POST", url, json={"content": "edited"}, headers=SSE) as response:
            events = await streamed(response)
        assert [e.id for e in events] == [str(n) for n in range(1, len(events) + 1)]
        done = events[-1]
        assert done.event == "done"
        after = await read(http, user, chat_id)
        assert superseded(after) == [False] * 3 + [True, True, False, False]
        assert after["messages"][5]["content"] == "edited"
        assert done.data["message"] == after["messages"][6]
        text = "".join(e.data["text"] for e in events if e.event == "delta")
        assert text == after["messages"][6]["content"] and '"edited"' in text


async def test_a_background_regenerate_is_followed_and_one_cancelled_stores_nothing(
    open_live_api: LiveApiFactory, request: pytest.FixtureRequest
) -> None:
    user = unique_user("ctl", request)
    async with open_live_api() as live, live.client() as http:
        chat_id = await talked(http, user, "question")
        before = await live.snapshot(user)
        hold = gateway(live).hold(after_chunks=2)
        started = await http.post(
            f"{chat_path(user, chat_id)}/regenerate",
            json={"background": True},
            headers={"Idempotency-Key": "regen-1"},
        )
        assert started.status_code == 202, started.text
        assert started.json()["request_id"] == "regen-1"
        await hold.reached()
        # One turn at a time: an edit meanwhile is refused.
        question = (await read(http, user, chat_id))["messages"][1]
        edit_url = f"{chat_path(user, chat_id)}/messages/{question['id']}/edit"
        busy = await http.post(edit_url, json={"content": "x"})
        assert (busy.status_code, busy.json()["error"]["code"]) == (409, "turn_in_progress")
        cancelled = await http.post(f"{chat_path(user, chat_id)}/turns/regen-1/cancel")
        assert cancelled.status_code == 202
        async with http.stream("GET", started.json()["events_url"]) as response:
            events = await streamed(response)
        assert events[-1].event == "error" and events[-1].data["code"] == "cancelled"
        assert await live.snapshot(user) == before
        assert superseded(await read(http, user, chat_id)) == [False] * 3
        hold.release()
        edited = await http.post(edit_url, json={"content": "edited", "background": True})
        assert edited.status_code == 202, edited.text
        async with http.stream("GET", edited.json()["events_url"]) as response:
            events = await streamed(response)
        after = await read(http, user, chat_id)
        assert events[-1].event == "done" and events[-1].data["message"] == after["messages"][-1]
        assert superseded(after) == [False, True, True, False, False]


async def test_a_fork_copies_the_chat_up_to_a_message(
    open_live_api: LiveApiFactory, request: pytest.FixtureRequest
) -> None:
    user = unique_user("ctl", request)
    async with open_live_api() as live, live.client() as http:
        chat_id = await talked(http, user, "first", "second")
        await http.post(f"{chat_path(user, chat_id)}/regenerate")
        original = await read(http, user, chat_id)
        point = original["messages"][-1]
        keyed = {"Idempotency-Key": "fork-1"}
        url = f"{chat_path(user, chat_id)}/fork"
        response = await http.post(url, json={"message_id": point["id"]}, headers=keyed)
        assert response.status_code == 201, response.text
        fork = response.json()
        assert fork["forked_from"] == {"chat_id": chat_id, "message_id": point["id"]}
        kept = [m for m in original["messages"] if not m["superseded"]]
        assert [m["content"] for m in fork["messages"]] == [m["content"] for m in kept]
        assert (fork["model"], fork["params"]) == (original["model"], original["params"])
        assert fork["window"] == original["window"]
        assert await read(http, user, fork["id"]) == fork
        assert await read(http, user, chat_id) == original
        again = await http.post(url, json={"message_id": point["id"]}, headers=keyed)
        assert (again.status_code, again.json()["id"]) == (201, fork["id"])
        before = await live.snapshot(user)
        for body, headers, status, code in [
            ({"message_id": original["messages"][1]["id"]}, keyed, 422, "idempotency_key_reused"),
            ({"message_id": fork["messages"][1]["id"]}, {}, 404, "message_not_found"),
            ({"message_id": original["messages"][4]["id"]}, {}, 409, "message_superseded"),
            ({"message_id": ""}, {}, 400, "invalid_input"),
            ({}, {}, 400, "invalid_input"),
        ]:
            refused = await http.post(url, json=body, headers=headers)
            assert refused.status_code == status, refused.text
            assert refused.json()["error"]["code"] == code
        foreign = await http.post(
            f"{chat_path(user + '-x', chat_id)}/fork", json={"message_id": point["id"]}
        )
        assert foreign.status_code == 404
        assert await live.snapshot(user) == before


async def test_the_window_is_what_the_next_prompt_holds_before_its_message(
    open_live_api: LiveApiFactory, request: pytest.FixtureRequest
) -> None:
    user = unique_user("ctl", request)
    async with open_live_api() as live, live.client() as http:
        chat_id = await talked(http, user, "first", "second")
        window = (await read(http, user, chat_id))["window"]
        said = await http.post(f"{chat_path(user, chat_id)}/messages", json={"content": "next"})
        question = (await read(http, user, chat_id))["messages"][-2]
        assert window["used"] == said.json()["usage"]["prompt_tokens"] - question["tokens"]
        chat = await read(http, user, chat_id)
        assert (window["reserve"], window["limit"]) == (
            chat["params"]["max_completion_tokens"],
            128_000,
        )
        # A superseded reply takes no room.
        await http.post(f"{chat_path(user, chat_id)}/regenerate")
        assert (await read(http, user, chat_id))["window"]["used"] == chat["window"]["used"]
