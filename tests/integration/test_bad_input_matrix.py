"""The bad-input matrix of docs/reliability.md: every case, HTTP and gRPC, on both databases.

Each refused request must get its documented answer with a message, and leave every stored row
as it was. The document's table and this module's cases must list the same cases.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from grpclib.exceptions import GRPCError

from chatservice.entrypoints.grpc.generated import chat_pb2 as compat_pb
from chatservice.entrypoints.grpc.generated import chatservice_v1_pb2 as pb
from support.grpc import LiveGrpc, LiveGrpcFactory, channel_with
from support.http import TOKEN, unique_user

DOC = Path(__file__).parents[2] / "docs" / "reliability.md"
UNKNOWN_CHAT = "00000000-0000-4000-8000-000000000000"
#: The malformed user ids the cases send: nothing may be stored under them either.
BAD_USER_IDS = ("bad user", "u" * 129, "é")


@dataclass(frozen=True)
class Ids:
    user: str
    chat: str
    other: str
    ended: str


@dataclass(frozen=True)
class HttpCase:
    name: str
    method: str
    path: str  # formatted with the Ids' fields
    kwargs: dict[str, Any]
    status: int
    code: str
    headers: dict[str, Any] | None = None


CHATS = "/v1/users/{user}/chats"
MSGS = CHATS + "/{chat}/messages"

HTTP_CASES = [
    HttpCase("empty content", "POST", MSGS, {"json": {"content": ""}}, 400, "invalid_input"),
    HttpCase(
        "whitespace-only content",
        "POST",
        MSGS,
        {"json": {"content": " \n\t"}},
        400,
        "invalid_input",
    ),
    HttpCase(
        "content over max_message_chars",
        "POST",
        MSGS,
        {"json": {"content": "x" * 100_001}},
        400,
        "invalid_input",
    ),
    HttpCase(
        "message too long for the context window",
        "POST",
        MSGS,
        {"json": {"content": "lorem " * 400}},
        413,
        "message_too_long",
    ),
    HttpCase("body over 1 MiB", "POST", MSGS, {"content": b"x" * 1_048_577}, 413, "body_too_large"),
    HttpCase(
        "malformed JSON", "POST", MSGS, {"content": b'{"content": "cut'}, 400, "invalid_input"
    ),
    HttpCase(
        "content of the wrong type", "POST", MSGS, {"json": {"content": 42}}, 400, "invalid_input"
    ),
    HttpCase("null content", "POST", MSGS, {"json": {"content": None}}, 400, "invalid_input"),
    HttpCase("a list for a body", "POST", MSGS, {"json": ["content"]}, 400, "invalid_input"),
    HttpCase("missing content", "POST", MSGS, {"json": {}}, 400, "invalid_input"),
    HttpCase(
        "unknown field", "POST", MSGS, {"json": {"content": "hi", "x": 1}}, 400, "invalid_input"
    ),
    HttpCase(
        "malformed Idempotency-Key",
        "POST",
        MSGS,
        {"json": {"content": "hi"}},
        400,
        "invalid_input",
        {"Idempotency-Key": "has space"},
    ),
    HttpCase(
        "Idempotency-Key reused with another message",
        "POST",
        MSGS,
        {"json": {"content": "not the first message"}},
        422,
        "idempotency_key_reused",
        {"Idempotency-Key": "used-once"},
    ),
    HttpCase(
        "user id with a space",
        "POST",
        "/v1/users/bad%20user/chats",
        {"json": {}},
        400,
        "invalid_input",
    ),
    HttpCase(
        "user id of 129 characters",
        "POST",
        "/v1/users/" + "u" * 129 + "/chats",
        {"json": {}},
        400,
        "invalid_input",
    ),
    HttpCase(
        "non-ASCII user id", "POST", "/v1/users/%C3%A9/chats", {"json": {}}, 400, "invalid_input"
    ),
    HttpCase(
        "unknown model", "POST", CHATS, {"json": {"model": "gpt-unknown"}}, 400, "invalid_input"
    ),
    HttpCase(
        "whitespace system message",
        "POST",
        CHATS,
        {"json": {"system_message": " "}},
        400,
        "invalid_input",
    ),
    HttpCase(
        "temperature out of range",
        "POST",
        CHATS,
        {"json": {"params": {"temperature": 3}}},
        400,
        "invalid_input",
    ),
    HttpCase(
        "temperature for a reasoning model",
        "POST",
        CHATS,
        {"json": {"model": "o3", "params": {"temperature": 1}}},
        400,
        "invalid_input",
    ),
    HttpCase(
        "max_completion_tokens of 0",
        "POST",
        CHATS,
        {"json": {"params": {"max_completion_tokens": 0}}},
        400,
        "invalid_input",
    ),
    HttpCase(
        "max_completion_tokens over the model's output",
        "POST",
        CHATS,
        {"json": {"params": {"max_completion_tokens": 10**9}}},
        400,
        "invalid_input",
    ),
    HttpCase("limit of 0", "GET", CHATS, {"params": {"limit": 0}}, 400, "invalid_input"),
    HttpCase(
        "limit not a number", "GET", CHATS, {"params": {"limit": "many"}}, 400, "invalid_input"
    ),
    HttpCase(
        "forged cursor", "GET", CHATS, {"params": {"cursor": "not-a-cursor"}}, 400, "invalid_input"
    ),
    HttpCase("unknown chat", "GET", CHATS + "/" + UNKNOWN_CHAT, {}, 404, "chat_not_found"),
    HttpCase("another user's chat: read", "GET", CHATS + "/{other}", {}, 404, "chat_not_found"),
    HttpCase(
        "another user's chat: message",
        "POST",
        CHATS + "/{other}/messages",
        {"json": {"content": "hi"}},
        404,
        "chat_not_found",
    ),
    HttpCase("another user's chat: end", "POST", CHATS + "/{other}/end", {}, 404, "chat_not_found"),
    HttpCase(
        "another user's chat: delete", "DELETE", CHATS + "/{other}", {}, 404, "chat_not_found"
    ),
    HttpCase(
        "message to an ended chat",
        "POST",
        CHATS + "/{ended}/messages",
        {"json": {"content": "hi"}},
        409,
        "chat_ended",
    ),
    HttpCase("unknown route", "GET", "/v1/no/such/route", {}, 404, "not_found"),
    HttpCase("wrong method", "PUT", CHATS + "/{chat}", {}, 405, "method_not_allowed"),
    HttpCase("no token", "GET", CHATS, {}, 401, "unauthenticated", {"Authorization": None}),
    HttpCase(
        "wrong token", "GET", CHATS, {}, 401, "unauthenticated", {"Authorization": "Bearer wrong"}
    ),
    HttpCase(
        "non-ASCII token",
        "GET",
        CHATS,
        {},
        401,
        "unauthenticated",
        {"Authorization": "Bearer tökén".encode()},
    ),
    HttpCase(
        "compat: no user_message",
        "POST",
        "/chat",
        {"json": {"user_id": "{user}"}},
        400,
        "invalid_input",
    ),
    HttpCase(
        "compat: bad user id",
        "POST",
        "/chat",
        {"json": {"user_id": "a b", "user_message": "hi"}},
        400,
        "invalid_input",
    ),
    HttpCase(
        "compat: another user's chat",
        "POST",
        "/chat",
        {"json": {"chat_id": "{other}", "user_id": "{user}", "user_message": "hi"}},
        404,
        "chat_not_found",
    ),
]

GrpcCall = Callable[[LiveGrpc, Ids], Coroutine[Any, Any, Any]]


def _send(content: str, chat: str = "chat", user: str | None = None, **more: Any) -> GrpcCall:
    def call(live: LiveGrpc, ids: Ids) -> Coroutine[Any, Any, Any]:
        request = pb.SendMessageRequest(
            user_id=user or ids.user, chat_id=getattr(ids, chat, chat), content=content, **more
        )
        return live.v1.SendMessage(request)

    return call


GRPC_CASES: list[tuple[str, GrpcCall, str]] = [
    ("SendMessage: whitespace-only content", _send(" "), "INVALID_ARGUMENT"),
    ("SendMessage: content over max_message_chars", _send("x" * 100_001), "INVALID_ARGUMENT"),
    ("SendMessage: message too long for the window", _send("lorem " * 400), "INVALID_ARGUMENT"),
    ("SendMessage: bad user id", _send("hi", user="bad user"), "INVALID_ARGUMENT"),
    ("SendMessage: malformed request_id", _send("hi", request_id="has space"), "INVALID_ARGUMENT"),
    (
        "SendMessage: request_id reused with another message",
        _send("not the first message", request_id="used-once"),
        "INVALID_ARGUMENT",
    ),
    ("SendMessage: unknown chat", _send("hi", chat=UNKNOWN_CHAT), "NOT_FOUND"),
    ("SendMessage: another user's chat", _send("hi", chat="other"), "NOT_FOUND"),
    ("SendMessage: ended chat", _send("hi", chat="ended"), "FAILED_PRECONDITION"),
    (
        "GetChat: another user's chat",
        lambda live, ids: live.v1.GetChat(pb.GetChatRequest(user_id=ids.user, chat_id=ids.other)),
        "NOT_FOUND",
    ),
    (
        "EndChat: another user's chat",
        lambda live, ids: live.v1.EndChat(pb.EndChatRequest(user_id=ids.user, chat_id=ids.other)),
        "NOT_FOUND",
    ),
    (
        "DeleteChat: another user's chat",
        lambda live, ids: live.v1.DeleteChat(
            pb.DeleteChatRequest(user_id=ids.user, chat_id=ids.other)
        ),
        "NOT_FOUND",
    ),
    (
        "CreateChat: unknown model",
        lambda live, ids: live.v1.CreateChat(pb.CreateChatRequest(user_id=ids.user, model="x")),
        "INVALID_ARGUMENT",
    ),
    (
        "CreateChat: temperature out of range",
        lambda live, ids: live.v1.CreateChat(
            pb.CreateChatRequest(user_id=ids.user, params=pb.ChatParams(temperature=9))
        ),
        "INVALID_ARGUMENT",
    ),
    (
        "CreateChat: NaN temperature",
        lambda live, ids: live.v1.CreateChat(
            pb.CreateChatRequest(user_id=ids.user, params=pb.ChatParams(temperature=float("nan")))
        ),
        "INVALID_ARGUMENT",
    ),
    (
        "ListChats: forged cursor",
        lambda live, ids: live.v1.ListChats(pb.ListChatsRequest(user_id=ids.user, cursor="x")),
        "INVALID_ARGUMENT",
    ),
    (
        "ListChats: limit over 100",
        lambda live, ids: live.v1.ListChats(pb.ListChatsRequest(user_id=ids.user, limit=1000)),
        "INVALID_ARGUMENT",
    ),
    (
        "ChatStream: empty message",
        lambda live, ids: live.compat.ChatStream(
            compat_pb.ChatRequest(user_id=ids.user, user_message="")
        ),
        "INVALID_ARGUMENT",
    ),
    (
        "ChatStream: another user's chat",
        lambda live, ids: live.compat.ChatStream(
            compat_pb.ChatRequest(chat_id=ids.other, user_id=ids.user, user_message="hi")
        ),
        "NOT_FOUND",
    ),
]


def _fill(value: Any, ids: Ids) -> Any:
    if isinstance(value, str):
        return value.format(**vars(ids)) if "{" in value else value
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value


async def test_every_bad_input_gets_its_answer_and_changes_nothing(
    open_live_grpc: LiveGrpcFactory, request: pytest.FixtureRequest
) -> None:
    user = unique_user("matrix", request)
    async with open_live_grpc(context_window=400, max_completion_tokens=100) as live:
        chat = await live.v1.CreateChat(pb.CreateChatRequest(user_id=user))
        await live.v1.SendMessage(
            pb.SendMessageRequest(
                user_id=user, chat_id=chat.id, content="hi", request_id="used-once"
            )
        )
        other = await live.v1.CreateChat(pb.CreateChatRequest(user_id=f"{user}-other"))
        ended = await live.v1.CreateChat(pb.CreateChatRequest(user_id=user))
        await live.v1.EndChat(pb.EndChatRequest(user_id=user, chat_id=ended.id))
        ids = Ids(user, chat.id, other.id, ended.id)
        users = (user, f"{user}-other", *BAD_USER_IDS)
        before = await live.snapshot(*users)
        for case in HTTP_CASES:
            headers = {"Authorization": TOKEN} | (case.headers or {})
            sent = live.http.build_request(
                case.method,
                _fill(case.path, ids),
                headers={k: v for k, v in headers.items() if v is not None},
                **_fill(case.kwargs, ids),
            )
            for name in [k for k, v in headers.items() if v is None]:
                del sent.headers[name]  # the client sends a token by default
            response = await live.http.send(sent)
            assert response.status_code == case.status, (case.name, response.text[:200])
            assert response.json()["error"]["code"] == case.code, case.name
            assert response.json()["error"]["message"], case.name
            assert await live.snapshot(*users) == before, case.name
        for name, call, status in GRPC_CASES:
            with pytest.raises(GRPCError) as failure:
                await call(live, ids)
            assert failure.value.status.name == status, (name, failure.value)
            assert failure.value.message, name
            assert await live.snapshot(*users) == before, name
        unauthenticated = channel_with(live.port, {"authorization": "Bearer wrong"})
        try:
            with pytest.raises(GRPCError) as failure:
                await type(live.v1)(unauthenticated).ListChats(pb.ListChatsRequest(user_id=user))
            assert failure.value.status.name == "UNAUTHENTICATED"
        finally:
            unauthenticated.close()


def test_the_reliability_document_lists_exactly_these_cases() -> None:
    rows = re.findall(r"^\| (HTTP|gRPC) \| (.+?) \| (.+?) \|$", DOC.read_text(), re.MULTILINE)
    documented = {(transport, case, answer) for transport, case, answer in rows}
    expected = {("HTTP", c.name, f"{c.status} `{c.code}`") for c in HTTP_CASES}
    expected |= {("gRPC", name, f"`{status}`") for name, _, status in GRPC_CASES}
    expected.add(("gRPC", "any call: wrong token", "`UNAUTHENTICATED`"))
    assert documented == expected
