"""The per-user turn limit through the service, counted in Redis: shared by every instance of
the service on one Redis, and per instance while Redis cannot be reached."""

from __future__ import annotations

import pytest

from support.http import AUTH, Api, ApiFactory, unique_user
from support.metrics import scrape, value
from support.process import free_port


async def turn_status(api: Api, user_id: str, chat_id: str) -> int:
    response = await api.client.post(
        f"/v1/users/{user_id}/chats/{chat_id}/messages", json={"content": "hi"}, headers=AUTH
    )
    return response.status_code


async def test_two_instances_on_one_redis_share_each_users_limit(
    open_api: ApiFactory, redis_url: str, request: pytest.FixtureRequest
) -> None:
    u = unique_user("u", request)
    limited = {"turns_per_minute_per_user": 3, "redis_url": redis_url}
    async with open_api(**limited) as first, open_api(**limited) as second:
        chat_id = (await first.new_chat(u))["id"]
        assert [await turn_status(first, u, chat_id) for _ in range(2)] == [200, 200]
        assert [await turn_status(second, u, chat_id) for _ in range(2)] == [200, 429]
        refused = await first.client.post(
            f"/v1/users/{u}/chats/{chat_id}/messages", json={"content": "hi"}, headers=AUTH
        )
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        other = unique_user("other", request)
        other_chat = await second.new_chat(other)
        assert await turn_status(second, other, other_chat["id"]) == 200


async def test_with_redis_unreachable_each_instance_counts_alone_and_says_so_in_its_metrics(
    open_api: ApiFactory, request: pytest.FixtureRequest
) -> None:
    u = unique_user("u", request)
    closed = f"redis://127.0.0.1:{free_port()}/0"
    async with open_api(turns_per_minute_per_user=2, redis_url=closed) as api:
        before = await scrape(api.client)
        chat_id = (await api.new_chat(u))["id"]
        assert [await turn_status(api, u, chat_id) for _ in range(3)] == [200, 200, 429]
        after = await scrape(api.client)
    failures = "chatservice_rate_limit_store_failures_total"
    assert value(after, failures) - value(before, failures) >= 1
