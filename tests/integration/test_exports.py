"""Export and import over HTTP (docs/api.md), on SQLite and MariaDB: a chat as JSON and as a
Markdown transcript, all of a user's chats as JSON Lines, and an export stored again."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from support.http import AUTH, Api, ApiFactory, unique_user

user = unique_user
#: What an export keeps of a chat but an import makes new.
NEW_ON_IMPORT = ("id", "user_id", "created_at", "updated_at")


def _without_ids_and_times(chat: dict[str, Any]) -> dict[str, Any]:
    kept = {k: v for k, v in chat.items() if k not in NEW_ON_IMPORT}
    kept["messages"] = [
        {k: v for k, v in m.items() if k not in ("id", "created_at")} for m in chat["messages"]
    ]
    return kept


async def _long_chat(api: Api, u: str) -> dict[str, Any]:
    """A chat whose oldest exchanges were erased to fit its window."""
    chat = await api.new_chat(u)
    for i in range(6):
        await api.say(u, chat["id"], f"exchange {i}: " + "lorem ipsum " * 10)
    return await _get(api, f"/v1/users/{u}/chats/{chat['id']}")


async def _get(api: Api, path: str) -> Any:
    response = await api.client.get(path, headers=AUTH)
    assert response.status_code == 200, response.text
    return response.json()


async def _import(api: Api, u: str, document: object) -> Any:
    return await api.client.post(f"/v1/users/{u}/chats/import", json=document, headers=AUTH)


async def test_a_json_export_is_the_chat_as_get_shows_it_with_its_version(
    open_api: ApiFactory, request: pytest.FixtureRequest
) -> None:
    u = user("u", request)
    async with open_api(context_window=400, max_completion_tokens=100) as api:
        chat = await _long_chat(api, u)
        exported = await _get(api, f"/v1/users/{u}/chats/{chat['id']}/export?format=json")
        by_default = await _get(api, f"/v1/users/{u}/chats/{chat['id']}/export")
    assert exported == by_default == {**chat, "export_version": 1}
    assert any(m["erased"] for m in chat["messages"])


async def test_export_then_import_then_export_is_equal_but_for_ids_and_times(
    open_api: ApiFactory, request: pytest.FixtureRequest
) -> None:
    u, other = user("u", request), user("other", request)
    async with open_api(context_window=400, max_completion_tokens=100) as api:
        chat = await _long_chat(api, u)
        exported = await _get(api, f"/v1/users/{u}/chats/{chat['id']}/export")

        response = await _import(api, other, exported)
        assert response.status_code == 201, response.text
        imported = response.json()
        again = await _get(api, f"/v1/users/{other}/chats/{imported['id']}/export")

        assert _without_ids_and_times(again) == _without_ids_and_times(exported)
        assert again["user_id"] == other and again["id"] != exported["id"]
        assert {m["id"] for m in again["messages"]}.isdisjoint(
            m["id"] for m in exported["messages"]
        )
        # The imported chat is a chat like any other: it takes turns in its own window.
        await api.say(other, imported["id"], "and now?")


async def test_superseded_and_erased_messages_survive_an_import_and_are_marked_in_markdown(
    api: Api, request: pytest.FixtureRequest
) -> None:
    u = user("u", request)
    chat = await api.new_chat(u)
    await api.say(u, chat["id"], "first question")
    await api.say(u, chat["id"], "second question")
    document = await _get(api, f"/v1/users/{u}/chats/{chat['id']}/export")
    document["messages"][1]["erased"] = document["messages"][2]["erased"] = True
    document["messages"][4]["superseded"] = True

    response = await _import(api, u, document)
    assert response.status_code == 201, response.text
    copied = response.json()
    flags = [(m["erased"], m["superseded"]) for m in copied["messages"]]
    assert flags == [(False, False), (True, False), (True, False), (False, False), (False, True)]

    transcript = await api.client.get(
        f"/v1/users/{u}/chats/{copied['id']}/export?format=markdown", headers=AUTH
    )
    assert transcript.status_code == 200
    assert transcript.headers["content-type"].startswith("text/markdown")
    text = transcript.text
    assert text.startswith("# first question\n")
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert len(headings) == 5
    assert headings[0] == "## System · #0"
    assert "erased" in headings[1] and "erased" in headings[2]
    assert "erased" not in headings[3] and "superseded" not in headings[3]
    assert "superseded" in headings[4] and "`gpt-4o-mini`" in headings[4]
    assert "first question" in text and document["messages"][4]["content"] in text


def _broken(document: dict[str, Any]) -> list[tuple[str, Any]]:
    """Exports spoiled one way each: malformed, or well-formed but inconsistent."""
    cases: list[tuple[str, Any]] = [("not an object", [1, 2]), ("no messages", {"model": "x"})]

    def spoil(name: str, change: Any) -> None:
        spoiled = copy.deepcopy(document)
        change(spoiled)
        cases.append((name, spoiled))

    def message(index: int, **fields: Any) -> Any:
        return lambda d: d["messages"][index].update(fields)

    spoil("wrong version", lambda d: d.update(export_version=2))
    spoil("unknown model", lambda d: d.update(model="no-such-model"))
    spoil("bad params", lambda d: d["params"].update(temperature=9.0))
    spoil("a gap in positions", message(2, position=7))
    spoil("no system message first", lambda d: d["messages"].pop(0))
    spoil("a second system message", message(1, role="system"))
    spoil("erased and superseded", message(2, erased=True, superseded=True))
    spoil("erased system message", message(0, erased=True))
    spoil("tokens that do not add up", message(1, tokens=1))
    spoil("empty content", message(1, content="  "))
    spoil("usage on a user message", message(1, usage={"prompt_tokens": 1, "completion_tokens": 1}))
    spoil("negative usage", lambda d: d["usage"].update(prompt_tokens=-1))
    spoil("a naive timestamp", message(1, created_at="2024-01-01T00:00:00"))
    spoil("a wrong type", message(1, tokens="many"))
    spoil("a title too long", lambda d: d.update(title="t" * 81))
    spoil("a long finish reason", message(2, finish_reason="f" * 65))
    spoil("a reply's cost past what is kept", message(2, cost="999999999999"))
    spoil("a chat's cost past what is kept", lambda d: d.update(cost="999999999999.5"))
    return cases


async def test_malformed_or_inconsistent_exports_are_400_and_store_nothing(
    api: Api, request: pytest.FixtureRequest
) -> None:
    u, importer = user("u", request), user("importer", request)
    chat = await api.new_chat(u)
    await api.say(u, chat["id"], "a question")
    document = await _get(api, f"/v1/users/{u}/chats/{chat['id']}/export")
    before = await api.snapshot(importer)
    for name, spoiled in _broken(document):
        response = await _import(api, importer, spoiled)
        assert response.status_code == 400, (name, response.text)
        assert response.json()["error"]["code"] == "invalid_input", name
    assert await api.snapshot(importer) == before
    not_json = await api.client.post(
        f"/v1/users/{importer}/chats/import", content=b"{", headers=AUTH
    )
    assert not_json.status_code == 400
    assert await api.snapshot(importer) == before


async def test_a_users_export_is_every_chat_of_theirs_a_json_line_each(
    api: Api, request: pytest.FixtureRequest
) -> None:
    u, other = user("u", request), user("other", request)
    ids = set()
    for i in range(3):
        chat = await api.new_chat(u)
        await api.say(u, chat["id"], f"chat {i}")
        ids.add(chat["id"])
    await api.new_chat(other)

    response = await api.client.get(f"/v1/users/{u}/export", headers=AUTH)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/jsonl")
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert {line["id"] for line in lines} == ids
    for line in lines:
        assert line == await _get(api, f"/v1/users/{u}/chats/{line['id']}/export")
    nobody = await api.client.get(f"/v1/users/{user('nobody', request)}/export", headers=AUTH)
    assert nobody.status_code == 200 and nobody.text == ""


async def test_another_users_chat_is_not_found_for_export(
    api: Api, request: pytest.FixtureRequest
) -> None:
    chat = await api.new_chat(user("u", request))
    response = await api.client.get(
        f"/v1/users/{user('other', request)}/chats/{chat['id']}/export", headers=AUTH
    )
    assert response.status_code == 404
    bad_user = await api.client.get("/v1/users/no%20spaces/export", headers=AUTH)
    assert bad_user.status_code == 400
