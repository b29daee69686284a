"""Rolling summaries through HTTP and gRPC on SQLite and MariaDB, and against a local
OpenAI-compatible server: what the prompts sent upstream hold, and a summary call the provider
fails, caught up later."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from grpclib.const import Status
from grpclib.exceptions import GRPCError
from litestar import Response

from chatservice.application.summaries import SUMMARY_HEADING, SUMMARY_INSTRUCTIONS
from chatservice.entrypoints.grpc.generated import chatservice_v1_pb2 as pb
from support.anthropic_server import running_anthropic_server
from support.grpc import LiveGrpcFactory
from support.http import AUTH, Api, ApiFactory, unique_user
from support.metrics import scrape, value
from support.openai_server import Behaviour, OpenAICompatibleServer, Received
from support.serving import serving

#: A window a few exchanges fill, so most turns erase one.
TINY = {"context_window": 200, "max_completion_tokens": 40, "system_message": "Be brief."}
#: The window of the OpenAI-compatible tests: the server refuses what does not fit it.
WINDOW = 600
RESERVE = 60
SUMMARY = "Ana is 31, lives in Porto, and chose the blue plan; open question: the start date."


async def talk(api: Api, user: str, chat_id: str, turns: range, filler: int = 0) -> None:
    """One turn per number, each followed by the summary it started, if any."""
    for n in turns:
        await api.say(user, chat_id, f"question {n}: tell me about {n}" + " and more" * filler)
        await api.container.background_work().drain(grace_seconds=30)


async def chat_of(api: Api, user: str, chat_id: str) -> dict[str, Any]:
    response = await api.client.get(f"/v1/users/{user}/chats/{chat_id}", headers=AUTH)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def erased_questions(chat: dict[str, Any]) -> list[int]:
    return [m["position"] for m in chat["messages"] if m["erased"] and m["role"] == "user"]


async def test_a_chat_asks_for_a_summary_and_get_shows_it(
    open_api: ApiFactory, request: pytest.FixtureRequest
) -> None:
    u = unique_user("u", request)
    async with open_api(**TINY) as api:
        created = await api.new_chat(u, memory="summary")
        assert created["memory"] == "summary" and created["summary"] is None
        plain = await api.new_chat(u)
        assert plain["memory"] == "none"

        await talk(api, u, created["id"], range(10))

        chat = await chat_of(api, u, created["id"])
        summary = chat["summary"]
        assert set(summary) == {"content", "tokens", "covers_through_position", "updated_at"}
        erased = erased_questions(chat)
        assert len(erased) >= 5
        for position in erased:
            assert f"exchange at message {position}: question" in summary["content"]
        assert summary["covers_through_position"] == erased[-1] + 1
        replies = [m["usage"] for m in chat["messages"] if m["role"] == "assistant"]
        assert chat["usage"]["prompt_tokens"] > sum(r["prompt_tokens"] for r in replies)


async def test_the_deployment_default_memory_is_what_a_chat_gets_unless_it_says(
    open_api: ApiFactory, request: pytest.FixtureRequest
) -> None:
    u = unique_user("u", request)
    async with open_api(default_memory="summary") as api:
        assert (await api.new_chat(u))["memory"] == "summary"
        assert (await api.new_chat(u, memory="none"))["memory"] == "none"


async def test_an_unknown_memory_is_400_and_stores_nothing(
    api: Api, request: pytest.FixtureRequest
) -> None:
    u = unique_user("u", request)
    before = await api.snapshot(u)

    response = await api.client.post(
        f"/v1/users/{u}/chats", json={"memory": "everything"}, headers=AUTH
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_input"
    assert "memory must be one of 'none', 'summary'" in response.json()["error"]["message"]
    assert await api.snapshot(u) == before


async def test_grpc_creates_a_chat_with_a_summary_and_get_chat_shows_it(
    open_live_grpc: LiveGrpcFactory, request: pytest.FixtureRequest
) -> None:
    u = unique_user("u", request)
    async with open_live_grpc(**TINY) as live:
        chat = await live.v1.CreateChat(pb.CreateChatRequest(user_id=u, memory="summary"))
        assert chat.memory == "summary" and not chat.HasField("summary")
        for n in range(8):
            await live.v1.SendMessage(
                pb.SendMessageRequest(user_id=u, chat_id=chat.id, content=f"question {n}")
            )
            await live.container.background_work().drain(grace_seconds=30)

        stored = await live.v1.GetChat(pb.GetChatRequest(user_id=u, chat_id=chat.id))

        assert stored.HasField("summary")
        erased = [m.position for m in stored.messages if m.erased and m.role == "user"]
        assert erased
        for position in erased:
            assert f"exchange at message {position}: question" in stored.summary.content
        assert stored.summary.covers_through_position == erased[-1] + 1
        assert stored.summary.tokens > 0
        with pytest.raises(GRPCError) as refused:
            await live.v1.CreateChat(pb.CreateChatRequest(user_id=u, memory="everything"))
        assert refused.value.status is Status.INVALID_ARGUMENT
        assert "memory must be one of" in (refused.value.message or "")


class SummaryFailingServer(OpenAICompatibleServer):
    """The local OpenAI-compatible server, answering summary calls 503 while `failing`."""

    failing = False

    def _refusal(self, received: Received) -> Response[Any] | None:
        if self.failing and received.body["messages"][0]["content"] == SUMMARY_INSTRUCTIONS:
            return Response({"error": {"message": "overloaded", "code": None}}, status_code=503)
        return super()._refusal(received)


@pytest.fixture
async def upstream() -> AsyncIterator[SummaryFailingServer]:
    server = SummaryFailingServer(context_window=WINDOW)
    # Every reply, the summaries' included, is one fixed text: a summary of a known size.
    server.default = Behaviour(reply=SUMMARY)
    async with serving(server.app(), server.port, log_level="critical"):
        try:
            yield server
        finally:
            server.stop()


def openai(upstream: OpenAICompatibleServer) -> dict[str, Any]:
    return {
        "gateway": "openai",
        "openai_base_url": upstream.base_url,
        "openai_api_key": "sk-local-test-key",
        "openai_max_retries": 0,
        "context_window": WINDOW,
        "max_completion_tokens": RESERVE,
        "summary_max_tokens": 100,
    }


def turns_sent(upstream: OpenAICompatibleServer) -> list[Received]:
    return [
        r for r in upstream.received if r.body["messages"][0]["content"] != SUMMARY_INSTRUCTIONS
    ]


async def test_prompts_sent_upstream_carry_the_summary_after_the_system_message_and_fit(
    open_api: ApiFactory, upstream: SummaryFailingServer, request: pytest.FixtureRequest
) -> None:
    u = unique_user("u", request)
    async with open_api(**openai(upstream)) as api:
        chat = await api.new_chat(u, memory="summary", system_message="Answer briefly.")

        await talk(api, u, chat["id"], range(14), filler=25)

        stored = await chat_of(api, u, chat["id"])
        assert stored["summary"]["content"] == SUMMARY
        carrying = [r for r in turns_sent(upstream) if len(r.body["messages"]) > 2]
        with_summary = [
            r for r in carrying if r.body["messages"][1]["content"].startswith(SUMMARY_HEADING)
        ]
        assert len(with_summary) >= 5
        for sent in with_summary:
            system, summary = sent.body["messages"][:2]
            assert system == {"role": "system", "content": "Answer briefly."}
            assert summary == {"role": "system", "content": SUMMARY_HEADING + SUMMARY}
            assert all(m["role"] != "system" for m in sent.body["messages"][2:])
        # The server refuses what does not fit its window: nothing was, and each prompt fit ours.
        assert not any(r.too_long for r in upstream.received)
        assert all(r.prompt_tokens + RESERVE <= WINDOW for r in turns_sent(upstream))
        calls = [r.body for r in upstream.received if r not in turns_sent(upstream)]
        assert calls
        assert all((c.get("max_completion_tokens") or c.get("max_tokens")) == 100 for c in calls)


async def test_a_summary_call_the_provider_fails_is_caught_up_by_a_later_one(
    open_api: ApiFactory, upstream: SummaryFailingServer, request: pytest.FixtureRequest
) -> None:
    u = unique_user("u", request)
    async with open_api(**openai(upstream)) as api:
        chat = await api.new_chat(u, memory="summary")
        upstream.failing = True
        before = await scrape(api.client)

        await talk(api, u, chat["id"], range(8), filler=25)

        failed = await chat_of(api, u, chat["id"])
        assert len(erased_questions(failed)) >= 2
        assert failed["summary"] is None
        assert len(failed["messages"]) == 1 + 2 * 8  # every turn stored, as in Part I
        upstream.failing = False
        recovered = len(upstream.received)
        await talk(api, u, chat["id"], range(8, 10), filler=25)
        after = await scrape(api.client)
        folds = "chatservice_summary_folds_total"
        failures = value(after, folds, outcome="provider_unavailable") - value(
            before, folds, outcome="provider_unavailable"
        )
        assert failures >= 2
        assert value(after, folds, outcome="stored") - value(before, folds, outcome="stored") >= 1
        caught_up = await chat_of(api, u, chat["id"])
        assert caught_up["summary"]["content"] == SUMMARY
        erased = erased_questions(caught_up)
        assert caught_up["summary"]["covers_through_position"] == erased[-1] + 1
        # Every erased message went into the summary calls, the ones erased while they failed
        # included.
        folded = "\n".join(
            r.body["messages"][1]["content"]
            for r in upstream.received[recovered:]
            if r.body["messages"][0]["content"] == SUMMARY_INSTRUCTIONS
        )
        for position in erased:
            assert f"[message {position}, user] question" in folded


async def test_a_chat_on_claude_keeps_its_summary_through_the_messages_api(
    open_api: ApiFactory, request: pytest.FixtureRequest
) -> None:
    """Summaries work on every provider: on Anthropic's, the summary call's instructions and a
    later prompt's summary both travel in the top-level `system` field."""
    u = unique_user("u", request)
    async with running_anthropic_server() as upstream:
        claude = {
            "model": "claude-haiku-5-5",
            "providers": {"anthropic": {"kind": "anthropic", "base_url": upstream.base_url}},
            "context_window": WINDOW,
            "max_completion_tokens": RESERVE,
            "summary_max_tokens": 100,
        }
        async with open_api(**claude) as api:
            chat = await api.new_chat(u, memory="summary", system_message="Answer briefly.")
            await talk(api, u, chat["id"], range(10), filler=25)
            stored = await chat_of(api, u, chat["id"])

    erased = erased_questions(stored)
    assert erased, "the window must be small enough to erase"
    assert stored["summary"] is not None
    assert stored["summary"]["covers_through_position"] == erased[-1] + 1
    calls = [r.body for r in upstream.received if r.body.get("system") == SUMMARY_INSTRUCTIONS]
    assert calls and all(c["max_tokens"] == 100 for c in calls)
    # The folded exchanges went to Claude as the call's messages.
    folded = "\n".join(str(c["messages"]) for c in calls)
    assert all(f"question {n}:" in folded for n in range(len(erased)))
    later = [
        r.body
        for r in upstream.received
        if r.body.get("system", "").startswith("Answer briefly.")
        and SUMMARY_HEADING in r.body["system"]
    ]
    assert later, "a later turn's prompt carries the summary after the system message"
    assert all(m["role"] in ("user", "assistant") for b in later for m in b["messages"])
