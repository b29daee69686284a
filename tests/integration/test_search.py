"""Searching a user's chats over HTTP (`GET /v1/users/{u}/chats?q=`), on SQLite and MariaDB."""

from __future__ import annotations

import pytest

from support.http import AUTH, Api, unique_user

user = unique_user


async def _search(api: Api, u: str, q: str, **params: object) -> list[str]:
    response = await api.client.get(f"/v1/users/{u}/chats", params={"q": q, **params}, headers=AUTH)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


async def test_search_finds_the_users_chats_by_their_words_newest_first_and_paged(
    api: Api, request: pytest.FixtureRequest
) -> None:
    u, other = user("u", request), user("other", request)
    found = []
    for topic in ("Kangaroo facts", "kangaroo recipes", "koala facts"):
        chat = await api.new_chat(u)
        await api.say(u, chat["id"], f"Tell me about {topic}, ação 🙂")
        found.append(chat["id"])
    foreign = await api.new_chat(other)
    await api.say(other, foreign["id"], "kangaroo facts")

    assert await _search(api, u, "KANGAROO") == [found[1], found[0]]
    assert await _search(api, u, "facts, kangaroo!") == [found[0]]
    assert await _search(api, u, "AÇÃO") == found[::-1]
    assert await _search(api, u, "platypus") == []
    assert await _search(api, other, "koala") == []

    first = await api.client.get(
        f"/v1/users/{u}/chats", params={"q": "tell", "limit": 2}, headers=AUTH
    )
    cursor = first.json()["next_cursor"]
    assert [i["id"] for i in first.json()["items"]] == found[:0:-1]
    assert await _search(api, u, "tell", limit=2, cursor=cursor) == [found[0]]


async def test_the_replies_are_searched_too(api: Api, request: pytest.FixtureRequest) -> None:
    u = user("u", request)
    chat = await api.new_chat(u)
    reply = await api.say(u, chat["id"], "hello there")
    # The fake model's reply names how many messages it received, in words of its own.
    word = next(w for w in reply["message"]["content"].split() if w.isalpha() and w != "hello")
    assert chat["id"] in await _search(api, u, word)


@pytest.mark.parametrize("q", ["", "  ,;!  ", "x" * 513, " ".join(f"w{i}" for i in range(17))])
async def test_a_query_without_words_or_too_long_is_400(
    api: Api, request: pytest.FixtureRequest, q: str
) -> None:
    response = await api.client.get(
        f"/v1/users/{user('u', request)}/chats", params={"q": q}, headers=AUTH
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_input"
