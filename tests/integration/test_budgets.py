"""A spent budget through every transport, on SQLite and MariaDB: HTTP 429 `budget_exhausted`
with `Retry-After` the seconds to the end of the period (JSON, SSE, background, the compatible
route, the OpenAI surface in OpenAI's shape, as the official SDK reads it), gRPC
`RESOURCE_EXHAUSTED` with `RetryInfo`; the refused turn stores nothing. Where the service's
clock is fixed, the seconds are exact."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import openai
import pytest
from google.protobuf.duration_pb2 import Duration
from google.rpc.error_details_pb2 import RetryInfo
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from chatservice.entrypoints.grpc.generated import chat_pb2 as compat_pb
from chatservice.entrypoints.grpc.generated import chatservice_v1_pb2 as pb
from support.grpc import LiveGrpcFactory
from support.http import AUTH, Api, ApiFactory, LiveApiFactory, sdk_client, unique_user

#: An hour before a UTC midnight, and 25 hours before the month ends.
NOW = datetime(2026, 12, 30, 23, tzinfo=UTC)
TO_MIDNIGHT, TO_NEW_YEAR = 3600, 25 * 3600
DAILY = {"budget_tokens_per_day_per_user": 1}


def fixed_clock() -> datetime:
    return NOW


async def spend_the_budget(api: Api, user: str) -> str:
    """A chat of `user` after the turn that spends their budget (admitted with nothing spent)."""
    chat_id = str((await api.new_chat(user))["id"])
    await api.say(user, chat_id, "hello")
    return chat_id


def assert_budget_exhausted(response: httpx.Response, retry_after: int) -> str:
    """The refusal's message, once its status, code and Retry-After are checked."""
    assert response.status_code == 429, response.text
    body = response.json()
    assert body["error"]["code"] == "budget_exhausted"
    assert response.headers["retry-after"] == str(retry_after)
    return str(body["error"]["message"])


async def test_a_spent_daily_budget_is_429_until_midnight_on_every_http_route_storing_nothing(
    open_api: ApiFactory, request: pytest.FixtureRequest
) -> None:
    u = unique_user("u", request)
    async with open_api(fixed_clock, **DAILY) as api:
        chat_id = await spend_the_budget(api, u)
        before = await api.snapshot(u)
        messages = f"/v1/users/{u}/chats/{chat_id}/messages"
        refusals = [
            await api.client.post(messages, json={"content": "json"}, headers=AUTH),
            await api.client.post(
                messages,
                json={"content": "sse"},
                headers={**AUTH, "Accept": "text/event-stream"},
            ),
            await api.client.post(
                messages, json={"content": "background", "background": True}, headers=AUTH
            ),
            await api.client.post(f"/v1/users/{u}/chats/{chat_id}/regenerate", headers=AUTH),
            await api.client.post(
                "/chat",
                json={"chat_id": chat_id, "user_id": u, "user_message": "compat"},
                headers=AUTH,
            ),
            await api.client.post(
                "/chat", json={"user_id": u, "user_message": "a new chat"}, headers=AUTH
            ),
        ]
        for refused in refusals:
            message = assert_budget_exhausted(refused, TO_MIDNIGHT)
            assert message == (
                f"the budget of 1 tokens a day for user '{u}' is spent; no turn starts before "
                "2026-12-31T00:00:00Z"
            )
        assert await api.snapshot(u) == before


async def test_a_spent_monthly_budget_is_429_until_the_month_ends(
    open_api: ApiFactory, request: pytest.FixtureRequest
) -> None:
    u = unique_user("u", request)
    async with open_api(fixed_clock, budget_usd_per_month_per_user="0.000001") as api:
        chat_id = await spend_the_budget(api, u)
        refused = await api.client.post(
            f"/v1/users/{u}/chats/{chat_id}/messages", json={"content": "more"}, headers=AUTH
        )
    message = assert_budget_exhausted(refused, TO_NEW_YEAR)
    assert "$0.000001 a month" in message


async def test_on_the_openai_surface_a_spent_budget_is_openais_quota_error(
    open_api: ApiFactory, request: pytest.FixtureRequest
) -> None:
    u = unique_user("u", request)
    headers = {**AUTH, "X-Chatservice-User": u}
    async with open_api(fixed_clock, **DAILY) as api:
        made = await api.client.post(
            "/openai/v1/responses", json={"input": "hello"}, headers=headers
        )
        assert made.status_code == 200, made.text
        before = await api.snapshot(u)
        refused = await api.client.post(
            "/openai/v1/responses",
            json={"input": "again", "previous_response_id": made.json()["id"]},
            headers=headers,
        )
        fresh = await api.client.post(
            "/openai/v1/responses", json={"input": "new"}, headers=headers
        )
        assert await api.snapshot(u) == before
    for response in (refused, fresh):
        assert response.status_code == 429, response.text
        assert response.headers["retry-after"] == str(TO_MIDNIGHT)
        error = response.json()["error"]
        assert (error["type"], error["code"], error["param"]) == (
            "insufficient_quota",
            "budget_exhausted",
            None,
        )


async def test_over_grpc_a_spent_budget_is_resource_exhausted_with_its_retry_delay(
    open_live_grpc: LiveGrpcFactory, request: pytest.FixtureRequest
) -> None:
    u = unique_user("u", request)
    async with open_live_grpc(**DAILY) as live:
        chat = await live.v1.CreateChat(pb.CreateChatRequest(user_id=u))
        await live.v1.SendMessage(pb.SendMessageRequest(user_id=u, chat_id=chat.id, content="a"))
        before = await live.snapshot(u)
        refusals = []
        for call in (
            live.v1.SendMessage(pb.SendMessageRequest(user_id=u, chat_id=chat.id, content="b")),
            live.compat.ChatStream(
                compat_pb.ChatRequest(user_id=u, chat_id=chat.id, user_message="c")
            ),
        ):
            with pytest.raises(GRPCError) as refused:
                await call
            refusals.append(refused.value)
        assert await live.snapshot(u) == before
    for refusal in refusals:
        assert refusal.status == Status.RESOURCE_EXHAUSTED
        assert refusal.message is not None
        assert refusal.message.startswith(f"the budget of 1 tokens a day for user '{u}' is spent")
        [detail] = refusal.details or []
        assert isinstance(detail, RetryInfo)
        # The real clock here: some time before the next UTC midnight.
        assert 0 < detail.retry_delay.ToTimedelta().total_seconds() <= 24 * 3600
        assert detail.retry_delay != Duration()


async def test_the_openai_sdk_sees_a_spent_budget_as_a_quota_error(
    open_live_api: LiveApiFactory, request: pytest.FixtureRequest
) -> None:
    u = unique_user("u", request)
    async with open_live_api(**DAILY) as live, sdk_client(live, u) as client:
        first = await client.responses.create(model="gpt-4o-mini", input="hello")
        with pytest.raises(openai.RateLimitError) as refused:
            await client.responses.create(input="again", previous_response_id=first.id)
    error = refused.value
    assert (error.status_code, error.code, error.type) == (
        429,
        "budget_exhausted",
        "insufficient_quota",
    )
    assert 0 < int(error.response.headers["retry-after"]) <= 24 * 3600
