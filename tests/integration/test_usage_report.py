"""The usage report over HTTP and gRPC, on SQLite and MariaDB: it is the sum of what the stored
replies and summaries cost, per UTC day and per model, as `GET` shows them; forks add nothing,
a chat's deletion takes nothing away, the user's erasure takes everything."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from chatservice.adapters.fake_gateway import FakeChatGateway
from chatservice.application.summaries import SUMMARY_INSTRUCTIONS
from chatservice.entrypoints.grpc.generated import chatservice_v1_pb2 as pb
from support.containers import provided
from support.grpc import LiveGrpcFactory
from support.http import AUTH, Api, ApiFactory, unique_user

#: Ten minutes before a UTC midnight that is also the end of a month.
EVENING = datetime(2031, 1, 31, 23, 50, tzinfo=UTC)
MIDNIGHT = datetime(2031, 2, 1, tzinfo=UTC)
DAY_1, DAY_2 = "2031-01-31", "2031-02-01"
#: A window a few exchanges fill, so turns erase and a chat that keeps a summary gets one.
TINY = {"context_window": 200, "max_completion_tokens": 40, "system_message": "Be brief."}
FIGURES = ("calls", "prompt_tokens", "completion_tokens", "cached_prompt_tokens", "cost")

Figures = dict[str, Any]


class SteppingClock:
    """A clock at a chosen instant that moves a millisecond each reading (stored times keep
    their order) and jumps where the test says."""

    def __init__(self, start: datetime) -> None:
        self._now = start

    def __call__(self) -> datetime:
        self._now += timedelta(milliseconds=1)
        return self._now

    def jump_to(self, moment: datetime) -> None:
        assert moment > self._now
        self._now = moment


def figures(prompt: int, completion: int, cached: int, cost: str, calls: int = 1) -> Figures:
    return {
        "calls": calls,
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "cached_prompt_tokens": cached,
        "cost": Decimal(cost),
    }


def add(into: dict[str, Figures], key: str, more: Figures) -> None:
    into[key] = {f: into[key][f] + more[f] for f in FIGURES} if key in into else dict(more)


def as_read(group: dict[str, Any]) -> Figures:
    """A group of the report as the expected figures are kept: the cost as a decimal."""
    assert group["total_tokens"] == group["prompt_tokens"] + group["completion_tokens"]
    return {f: Decimal(group[f]) if f == "cost" else group[f] for f in FIGURES}


async def read(api: Api, path: str) -> dict[str, Any]:
    response = await api.client.get(path, headers=AUTH)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def talk(api: Api, user: str, chat_id: str, turns: int) -> None:
    """Turns on the chat, each followed by the summary it started, if any."""
    for n in range(turns):
        await api.say(user, chat_id, f"question {n}: tell me about {n}")
        await api.container.background_work().drain(grace_seconds=30)


async def expected_report(
    api: Api, user: str, chat_ids: list[str]
) -> dict[str, dict[str, Figures]]:
    """The sums the report must show, by day and by model, from the chats as `GET` shows them:
    each reply's own figures, and what the chat's summaries cost (the chat's usage beyond its
    replies', all written today by the chat's model: the test makes sure)."""
    by: dict[str, dict[str, Figures]] = {"day": {}, "model": {}}
    summary_calls = sum(
        r.messages[0].content == SUMMARY_INSTRUCTIONS
        for r in provided(api.container.gateway, FakeChatGateway).requests
    )
    for chat_id in chat_ids:
        chat = await read(api, f"/v1/users/{user}/chats/{chat_id}")
        replies = [m for m in chat["messages"] if m["role"] == "assistant"]
        for reply in replies:
            usage = reply["usage"]
            paid = figures(
                usage["prompt_tokens"],
                usage["completion_tokens"],
                usage["cached_prompt_tokens"],
                reply["cost"],
            )
            add(by["day"], reply["created_at"][:10], paid)
            add(by["model"], reply["model"], paid)
        summaries = figures(
            chat["usage"]["prompt_tokens"] - sum(r["usage"]["prompt_tokens"] for r in replies),
            chat["usage"]["completion_tokens"]
            - sum(r["usage"]["completion_tokens"] for r in replies),
            chat["usage"]["cached_prompt_tokens"]
            - sum(r["usage"]["cached_prompt_tokens"] for r in replies),
            str(Decimal(chat["cost"]) - sum(Decimal(r["cost"]) for r in replies)),
            calls=summary_calls if chat["memory"] == "summary" else 0,
        )
        if summaries["calls"]:
            assert summaries["prompt_tokens"] > 0 and summaries["cost"] > 0
            add(by["day"], DAY_2, summaries)
            add(by["model"], chat["model"], summaries)
    return by


async def test_the_report_sums_the_stored_replies_and_summaries_by_utc_day_and_by_model(
    open_api: ApiFactory, request: pytest.FixtureRequest
) -> None:
    user = unique_user("spender", request)
    clock = SteppingClock(EVENING)
    async with open_api(clock=clock, **TINY) as api:
        plain = (await api.new_chat(user, model="gpt-4o-mini"))["id"]
        await talk(api, user, plain, 3)
        regenerated = await api.client.post(
            f"/v1/users/{user}/chats/{plain}/regenerate", headers=AUTH
        )
        assert regenerated.status_code == 200, regenerated.text
        clock.jump_to(MIDNIGHT + timedelta(seconds=10))
        await talk(api, user, plain, 1)
        summarized = (await api.new_chat(user, model="gpt-4o", memory="summary"))["id"]
        await talk(api, user, summarized, 8)
        expected = await expected_report(api, user, [plain, summarized])
        usage = f"/v1/users/{user}/usage?from={DAY_1}&to={DAY_2}"

        by_day = await read(api, usage)
        by_model = await read(api, usage + "&group_by=model")

        assert list(expected["day"]) == [DAY_1, DAY_2]
        assert sorted(expected["model"]) == ["gpt-4o", "gpt-4o-mini"]
        assert {g["key"]: as_read(g) for g in by_day["groups"]} == expected["day"]
        assert {g["key"]: as_read(g) for g in by_model["groups"]} == expected["model"]
        assert [g["key"] for g in by_model["groups"]] == ["gpt-4o", "gpt-4o-mini"]
        assert by_day["total"] == by_model["total"]
        # 5 replies (one regenerated) and 8 more on the chat that keeps a summary, and its
        # summaries besides.
        assert expected["model"]["gpt-4o-mini"]["calls"] == 5
        assert expected["model"]["gpt-4o"]["calls"] > 8
        assert (by_day["user_id"], by_day["from"], by_day["to"]) == (user, DAY_1, DAY_2)
        assert (by_day["group_by"], by_model["group_by"]) == ("day", "model")
        # The defaults: this UTC month (it began at midnight) up to today, by day.
        this_month = await read(api, f"/v1/users/{user}/usage")
        assert (this_month["from"], this_month["to"]) == (DAY_2, DAY_2)
        assert this_month["groups"] == by_day["groups"][1:]

        last_reply = (await read(api, f"/v1/users/{user}/chats/{plain}"))["messages"][-1]
        forked = await api.client.post(
            f"/v1/users/{user}/chats/{plain}/fork",
            json={"message_id": last_reply["id"]},
            headers=AUTH,
        )
        assert forked.status_code == 201, forked.text
        deleted = await api.client.delete(f"/v1/users/{user}/chats/{plain}", headers=AUTH)
        assert deleted.status_code == 204
        assert await read(api, usage) == by_day

        erased = await api.client.delete(f"/v1/users/{user}", headers=AUTH)
        assert erased.status_code == 204
        after = await read(api, usage)
        assert after["groups"] == [] and after["total"]["calls"] == 0
        assert after["total"]["cost"] == "0"


@pytest.mark.parametrize(
    ("query", "complaint"),
    [
        ("from=2031-02-30", "from must be a day"),
        ("to=31-01-2031", "to must be a day"),
        ("from=2031-1-5", "from must be a day"),
        ("from=2031-02-02&to=2031-02-01", "must not come after"),
        ("from=2030-01-01&to=2031-01-02", "at most 366 days"),
        ("group_by=week", ""),
    ],
)
async def test_a_bad_period_or_grouping_is_400_and_changes_nothing(
    api: Api, request: pytest.FixtureRequest, query: str, complaint: str
) -> None:
    user = unique_user("u", request)
    before = await api.snapshot(user)

    response = await api.client.get(f"/v1/users/{user}/usage?{query}", headers=AUTH)

    assert response.status_code == 400, response.text
    assert complaint in response.json()["error"]["message"]
    assert await api.snapshot(user) == before


async def test_a_whole_leap_year_is_one_report(api: Api, request: pytest.FixtureRequest) -> None:
    user = unique_user("u", request)
    report = await read(api, f"/v1/users/{user}/usage?from=2028-01-01&to=2028-12-31")
    assert report["groups"] == [] and report["total"]["cost"] == "0"


async def test_grpc_get_usage_answers_as_http_does_and_refuses_bad_input(
    open_live_grpc: LiveGrpcFactory, request: pytest.FixtureRequest
) -> None:
    user = unique_user("u", request)
    async with open_live_grpc() as live:
        chat: pb.Chat = await live.v1.CreateChat(pb.CreateChatRequest(user_id=user))
        for text in ("hello", "and again"):
            await live.v1.SendMessage(
                pb.SendMessageRequest(user_id=user, chat_id=chat.id, content=text)
            )
        http = (await live.http.get(f"/v1/users/{user}/usage?group_by=model")).json()

        report: pb.UsageReport = await live.v1.GetUsage(
            pb.GetUsageRequest(user_id=user, group_by="model")
        )

        assert (report.user_id, report.from_day, report.to_day) == (
            user,
            http["from"],
            http["to"],
        )
        assert report.group_by == "model"
        (group,) = report.groups
        assert group.key == "gpt-4o-mini" and group.figures.calls == 2
        assert group.figures.cost == http["total"]["cost"] == report.total.cost
        assert Decimal(report.total.cost) > 0
        assert report.total.total_tokens == http["total"]["total_tokens"]
        for bad in (
            pb.GetUsageRequest(user_id=user, from_day="yesterday"),
            pb.GetUsageRequest(user_id=user, from_day="2031-02-02", to_day="2031-02-01"),
            pb.GetUsageRequest(user_id=user, group_by="week"),
            pb.GetUsageRequest(user_id="not a user id"),
        ):
            with pytest.raises(GRPCError) as error:
                await live.v1.GetUsage(bad)
            assert error.value.status is Status.INVALID_ARGUMENT
            assert error.value.message
