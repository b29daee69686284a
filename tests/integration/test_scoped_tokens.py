"""Scoped tokens (`[[tokens]]`): a token acting for a user outside its glob is refused on every
route, HTTP (the OpenAI surface included) and gRPC, before anything runs; inside it, it works as
a full token does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from chatservice.entrypoints.grpc.generated import chat_grpc, chatservice_v1_grpc
from chatservice.entrypoints.grpc.generated import chat_pb2 as compat_pb
from chatservice.entrypoints.grpc.generated import chatservice_v1_pb2 as pb
from support.grpc import LiveGrpcFactory, channel_with
from support.http import AUTH, Api, ApiFactory, unique_user

SCOPED = "acme-scoped-token"
SCOPED_AUTH = {"Authorization": f"Bearer {SCOPED}"}
ACME = {"name": "acme", "token_env": "ACME_TOKEN", "users": "acme:*", "token": SCOPED}
#: The routes that take no token, so no scope.
OPEN = {"GET /healthz", "GET /readyz", "POST /v1/twilio/whatsapp"}


@pytest.fixture
async def scoped_api(open_api: ApiFactory) -> AsyncIterator[Api]:
    async with open_api(tokens=[ACME]) as api:
        yield api


async def _outsiders_objects(api: Api, user: str) -> dict[str, str]:
    """A chat with a finished turn, a response and a conversation of `user`, made with the full
    token: what a scoped token must not reach."""
    chat = await api.new_chat(user)
    reply = await api.say(user, chat["id"], "hello")
    made = await api.client.post(
        "/openai/v1/responses",
        json={"model": "gpt-4o-mini", "input": "hi"},
        headers={**AUTH, "X-Chatservice-User": user},
    )
    assert made.status_code == 200, made.text
    conversation = await api.client.post(
        "/openai/v1/conversations", json={}, headers={**AUTH, "X-Chatservice-User": user}
    )
    assert conversation.status_code in (200, 201), conversation.text
    return {
        "user_id": user,
        "chat_id": chat["id"],
        "message_id": reply["message"]["id"],
        "request_id": "turn-1",
        "response_id": made.json()["id"],
        "conversation_id": conversation.json()["id"],
    }


def _request(label: str, ids: dict[str, str]) -> tuple[str, str, dict[str, Any]]:
    method, template = label.split(" ", 1)
    path = template.format(**ids)
    body: dict[str, Any] = {}
    if label == "POST /chat":
        body = {"user_id": ids["user_id"], "user_message": "hi"}
    elif path.endswith(("/messages", "/edit")):
        body = {"content": "hi"}
    elif path.endswith("/fork"):
        body = {"message_id": ids["message_id"]}
    elif path.endswith("/import"):
        body = {"export_version": 1, "model": "gpt-4o-mini", "params": {}, "messages": []}
    elif label == "POST /openai/v1/responses":
        body = {"model": "gpt-4o-mini", "input": "hi"}
    elif label.startswith("POST /openai/v1/conversations"):
        body = {"items": []}
    return method, path, body


async def _operations(api: Api) -> list[str]:
    """Every operation the OpenAPI document declares, as `METHOD /path`."""
    schema = (await api.client.get("/schema/openapi.json")).json()
    return sorted(
        f"{method.upper()} {path}"
        for path, item in schema["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    )


async def test_a_scoped_token_is_refused_on_every_route_for_a_user_outside_its_glob(
    scoped_api: Api, request: pytest.FixtureRequest
) -> None:
    outsider = unique_user("bob", request)
    ids = await _outsiders_objects(scoped_api, outsider)
    before = await scoped_api.snapshot(outsider)
    operations = [label for label in await _operations(scoped_api) if label not in OPEN]
    assert len(operations) > 20 and "POST /openai/v1/responses" in operations
    for label in operations:
        method, path, body = _request(label, ids)
        headers = {**SCOPED_AUTH, "X-Chatservice-User": outsider, "Idempotency-Key": "k-1"}

        response = await scoped_api.client.request(
            method, path, json=body if method != "GET" else None, headers=headers
        )

        assert response.status_code == 403, (label, response.text)
        error = response.json()["error"]
        assert error["code"] == "forbidden_user", label
        if path.startswith("/openai/v1"):
            assert error["type"] == "permission_error", label
        assert SCOPED not in response.text
        assert await scoped_api.snapshot(outsider) == before, label
    metrics = (await scoped_api.client.get("/metrics")).text
    assert 'chatservice_forbidden_user_total{token="acme"}' in metrics
    assert SCOPED not in metrics


async def test_a_scoped_token_works_as_a_full_one_for_the_users_its_glob_matches(
    scoped_api: Api, request: pytest.FixtureRequest
) -> None:
    insider = "acme:" + unique_user("ana", request)
    made = await scoped_api.client.post(f"/v1/users/{insider}/chats", json={}, headers=SCOPED_AUTH)
    assert made.status_code == 201, made.text
    said = await scoped_api.client.post(
        f"/v1/users/{insider}/chats/{made.json()['id']}/messages",
        json={"content": "hello"},
        headers=SCOPED_AUTH,
    )
    assert said.status_code == 200, said.text
    compat = await scoped_api.client.post(
        "/chat", json={"user_id": insider, "user_message": "hi"}, headers=SCOPED_AUTH
    )
    assert compat.status_code == 200, compat.text
    responded = await scoped_api.client.post(
        "/openai/v1/responses",
        json={"model": "gpt-4o-mini", "input": "hi", "user": insider},
        headers=SCOPED_AUTH,
    )
    assert responded.status_code == 200, responded.text


async def test_grpc_refuses_a_user_outside_the_glob_with_permission_denied_and_stores_nothing(
    open_live_grpc: LiveGrpcFactory, request: pytest.FixtureRequest
) -> None:
    outsider = unique_user("bob", request)
    insider = "acme:" + outsider
    async with open_live_grpc(tokens=[ACME]) as live:
        chat: pb.Chat = await live.v1.CreateChat(pb.CreateChatRequest(user_id=outsider))
        before = await live.snapshot(outsider)
        channel = channel_with(live.port, {"authorization": f"Bearer {SCOPED}"})
        v1 = chatservice_v1_grpc.ChatServiceStub(channel)
        compat = chat_grpc.ChatServiceStub(channel)
        try:
            refused = [
                v1.CreateChat(pb.CreateChatRequest(user_id=outsider)),
                v1.SendMessage(
                    pb.SendMessageRequest(user_id=outsider, chat_id=chat.id, content="hi")
                ),
                v1.GetChat(pb.GetChatRequest(user_id=outsider, chat_id=chat.id)),
                v1.ListChats(pb.ListChatsRequest(user_id=outsider)),
                v1.DeleteChat(pb.DeleteChatRequest(user_id=outsider, chat_id=chat.id)),
                v1.GetUsage(pb.GetUsageRequest(user_id=outsider)),
                compat.ChatStream(compat_pb.ChatRequest(user_id=outsider, user_message="hi")),
            ]
            for call in refused:
                with pytest.raises(GRPCError) as error:
                    await call
                assert error.value.status is Status.PERMISSION_DENIED
                assert "'acme'" in (error.value.message or "")
            assert await live.snapshot(outsider) == before

            mine: pb.Chat = await v1.CreateChat(pb.CreateChatRequest(user_id=insider))
            *_, done = await v1.SendMessage(
                pb.SendMessageRequest(user_id=insider, chat_id=mine.id, content="hi")
            )
            assert done.completed.reply.content
        finally:
            channel.close()
