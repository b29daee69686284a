"""The OpenAI surface's refusals, hand-built: OpenAI's error shape, the right status, and
nothing stored."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from support.http import AUTH, Api, unique_user

BASE = "/openai/v1"


def user(u: str) -> dict[str, str]:
    return AUTH | {"X-Chatservice-User": u}


def assert_openai_error(response: httpx.Response, status: int, code: str | None = None) -> Any:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"]
    if code is not None:
        assert error["code"] == code
    return error


async def test_refused_requests_answer_in_openais_shape_and_store_nothing(
    api: Api, request: pytest.FixtureRequest
) -> None:
    u = unique_user("u", request)
    made = await api.client.post(f"{BASE}/responses", json={"input": "hi"}, headers=user(u))
    assert made.status_code == 200, made.text
    first = made.json()["id"]
    before = await api.snapshot(u)
    refusals: list[tuple[dict[str, Any], dict[str, str], int, str | None]] = [
        ({"input": "hi"}, AUTH, 400, "invalid_input"),  # whose?
        ({"input": "hi", "store": False}, user(u), 400, "invalid_input"),
        ({"input": "hi", "tools": []}, user(u), 400, "invalid_input"),
        ({"input": [{"role": "assistant", "content": "x"}]}, user(u), 400, "invalid_input"),
        ({"input": "   "}, user(u), 400, "invalid_input"),
        ({"input": "hi", "temperature": 3}, user(u), 400, "invalid_input"),
        ({"input": "hi", "model": "no-such-model"}, user(u), 400, "invalid_input"),
        ({"input": "hi", "metadata": {"k" * 65: "v"}}, user(u), 400, "invalid_input"),
        (
            {"input": "hi", "previous_response_id": first, "conversation": "conv_x"},
            user(u),
            400,
            "invalid_input",
        ),
        ({"input": "hi", "previous_response_id": "resp_nope"}, user(u), 404, "response_not_found"),
        ({"input": "hi", "previous_response_id": first}, user(f"{u}-other"), 404, None),
        ({"input": "hi", "conversation": "conv_nope"}, user(u), 404, "chat_not_found"),
        ({"input": "hi"}, {"X-Chatservice-User": u}, 401, "unauthenticated"),
    ]
    for body, headers, status, code in refusals:
        response = await api.client.post(f"{BASE}/responses", json=body, headers=headers)
        assert_openai_error(response, status, code)
    store = await api.client.post(
        f"{BASE}/responses", json={"input": "hi", "store": False}, headers=user(u)
    )
    assert assert_openai_error(store, 400)["param"] == "store"
    assert await api.snapshot(u) == before


async def test_the_frameworks_own_errors_take_openais_shape_under_the_surface(
    api: Api, request: pytest.FixtureRequest
) -> None:
    u = unique_user("u", request)
    malformed = await api.client.post(
        f"{BASE}/responses",
        content=b"{not json",
        headers=user(u) | {"Content-Type": "application/json"},
    )
    assert_openai_error(malformed, 400)
    assert_openai_error(await api.client.get(f"{BASE}/no-such-route", headers=user(u)), 404)
    assert_openai_error(await api.client.put(f"{BASE}/responses", headers=user(u)), 405)
    # The rest of the API keeps its own shape.
    elsewhere = await api.client.get("/v1/no-such-route", headers=AUTH)
    assert set(elsewhere.json()["error"]) == {"code", "message"}


async def test_another_users_objects_are_not_found(
    api: Api, request: pytest.FixtureRequest
) -> None:
    u = unique_user("u", request)
    made = (
        await api.client.post(f"{BASE}/responses", json={"input": "hi"}, headers=user(u))
    ).json()
    conv = (await api.client.post(f"{BASE}/conversations", json={}, headers=user(u))).json()
    other = user(f"{u}-other")
    for method, path in [
        ("GET", f"/responses/{made['id']}"),
        ("DELETE", f"/responses/{made['id']}"),
        ("GET", f"/responses/{made['id']}/input_items"),
        ("POST", f"/responses/{made['id']}/cancel"),
        ("GET", f"/conversations/{conv['id']}"),
        ("DELETE", f"/conversations/{conv['id']}"),
        ("GET", f"/conversations/{conv['id']}/items"),
    ]:
        response = await api.client.request(method, BASE + path, headers=other)
        assert_openai_error(response, 404)
    assert (await api.client.get(f"{BASE}/responses/{made['id']}", headers=user(u))).is_success


async def test_a_conversation_may_be_named_by_its_id_or_an_object(
    api: Api, request: pytest.FixtureRequest
) -> None:
    u = unique_user("u", request)
    conv = (await api.client.post(f"{BASE}/conversations", json={}, headers=user(u))).json()
    for named in (conv["id"], {"id": conv["id"]}):
        made = await api.client.post(
            f"{BASE}/responses", json={"input": "hi", "conversation": named}, headers=user(u)
        )
        assert made.status_code == 200, made.text
        assert made.json()["conversation"] == {"id": conv["id"]}
    # The body's user stands in for the header.
    body_user = await api.client.post(
        f"{BASE}/responses", json={"input": "hi", "safety_identifier": u}, headers=AUTH
    )
    assert body_user.status_code == 200, body_user.text
    items = await api.client.get(f"{BASE}/conversations/{conv['id']}/items", headers=user(u))
    assert len(items.json()["data"]) == 4
