"""gRPC fuzzing: Hypothesis drives every chat RPC with odd fields, over a real local port.

For `chatservice.v1.ChatService` (CreateChat, SendMessage, ListChats, GetChat, EndChat, DeleteChat,
Regenerate, EditMessage, ForkChat, ExportChat, GetUsage) and the original
`pb.ChatService.ChatStream`, on each database: empty, blank, NUL, emoji, right-to-left, combining
and oversized (100k+ characters) strings, model tokens such as `<|endoftext|>`, numbers at and
past their limits (0, 2**32 - 1, NaN, infinities), random and crafted chat and message ids and
cursors, and missing or wrong tokens. Protobuf strings cannot carry lone surrogates, so the
strings are valid Unicode; crafted cursors carry them inside their JSON.

The property: a call either succeeds or fails with a documented status and a message saying why;
never UNKNOWN or INTERNAL. Derandomized and bounded (`EXAMPLES` per RPC on each database).
"""

from __future__ import annotations

import base64
import enum
import json
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta, timezone
from typing import Any

import pytest
from grpclib.client import Channel
from grpclib.const import Status
from grpclib.exceptions import GRPCError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chatservice.entrypoints.grpc.generated import chat_grpc, chatservice_v1_grpc
from chatservice.entrypoints.grpc.generated import chat_pb2 as compat_pb
from chatservice.entrypoints.grpc.generated import chatservice_v1_pb2 as pb
from support.grpc import LiveGrpc, LiveGrpcFactory
from support.http import ROTATED_TOKEN, TOKEN, unique_user

#: Generated calls per RPC on each database.
EXAMPLES = 200

#: What a refused call may answer (docs/api.md); the fake model never fails or rate-limits.
DOCUMENTED = {
    Status.INVALID_ARGUMENT,
    Status.NOT_FOUND,
    Status.FAILED_PRECONDITION,
    Status.ABORTED,
    Status.UNAUTHENTICATED,
}


class Seed(enum.Enum):
    """Stand-ins for data made by the test, resolved when a call is sent."""

    USER = "the test's user"
    FRESH = "a chat made for this call"
    TALKED_TO = "a chat with an exchange"
    ENDED = "an ended chat"
    FOREIGN = "another user's chat"
    CURSOR = "a cursor the service handed out"
    QUESTION = "the user message of the chat with an exchange"


ODD_STRINGS = [
    "",
    " ",
    "\t\r\n ",
    "\u00a0\u2003\u3000",
    "\x00",
    "a\x00b",
    "<|endoftext|>",
    "<|endofprompt|><|fim_prefix|>",
    "🙂",
    "👩‍👩‍👧‍👦🏳️‍🌈",
    "مرحبا بالعالم",
    "\u202eevil\u202c",
    "e\u0301\u0302\u0303\u0304",
    "\ufeff",
    "\U0010ffff",
]


@dataclass(frozen=True)
class Repeated:
    """`text * times`, made when the call is sent: Hypothesis reports it in a line, not 100k."""

    text: str
    times: int


#: Past `max_message_chars` (100,000) and just inside it, in one and in many tokens.
HUGE_STRINGS = [
    Repeated("x", 100_000),
    Repeated("x", 100_001),
    Repeated("🙂", 100_001),
    Repeated("ab ", 40_000),
    Repeated("<|endoftext|>", 8_000),
    Repeated("e\u0301", 60_000),
]
ODD_TEXT = st.one_of(
    st.sampled_from(ODD_STRINGS),
    st.sampled_from(HUGE_STRINGS),
    st.text(max_size=300),
    st.text(st.characters(categories=["Mn", "Me", "Cf", "Cc", "Zs", "So"]), max_size=50),
)


def _mostly(usual: st.SearchStrategy[Any], other: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A draw from `usual` about three times in four, so most calls get past the input checks."""
    return st.sampled_from([True, True, True, False]).flatmap(
        lambda take_usual: usual if take_usual else other
    )


USER_IDS = _mostly(
    st.just(Seed.USER),
    st.one_of(
        st.sampled_from(["a", "A" * 128, "A" * 129, "alice@example.com", "u:1+2", "a b"]),
        ODD_TEXT,
    ),
)
CHAT_IDS = _mostly(
    st.sampled_from([Seed.FRESH, Seed.TALKED_TO, Seed.ENDED, Seed.FOREIGN]),
    st.one_of(st.uuids().map(str), ODD_TEXT),
)
MESSAGE_IDS = _mostly(st.just(Seed.QUESTION), st.one_of(st.uuids().map(str), ODD_TEXT))
REQUEST_IDS = _mostly(st.none(), st.one_of(st.sampled_from(["k1", "x" * 128, "x" * 129]), ODD_TEXT))
UINT32 = st.one_of(
    st.sampled_from([0, 1, 100, 101, 16_384, 2**31, 2**32 - 1]), st.integers(0, 2**32 - 1)
)
DOUBLES = st.one_of(
    st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -0.0, 1.0, 2.0, 2.0000001, -2.0000001]),
    st.floats(),
)


def _cursor(payload: object) -> str:
    raw = json.dumps(payload).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


#: Cursors built the way the service builds them, from values it would never write.
CRAFTED_CURSORS = st.one_of(
    st.tuples(
        st.datetimes(
            timezones=st.builds(timezone, st.timedeltas(timedelta(hours=-23), timedelta(hours=23)))
        ).map(lambda moment: moment.isoformat()),
        st.one_of(st.text(max_size=50), st.sampled_from(["\ud800", "a\udfffb"])),
    ).map(lambda pair: _cursor(list(pair))),
    st.sampled_from(["[" * 5000, '{"a": 1, "b": 2}', "[1, 2]", '"x"', "null"]).map(
        lambda raw: base64.urlsafe_b64encode(raw.encode()).decode()
    ),
)
CURSORS = st.one_of(st.just(""), st.just(Seed.CURSOR), CRAFTED_CURSORS, ODD_TEXT)

AUTHORIZATIONS = _mostly(
    st.just(f"Bearer {TOKEN}"),
    st.sampled_from([TOKEN, f"bearer {ROTATED_TOKEN}", None, "Bearer nope", "Bearer "]),
)


def _optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


def _fields(**strategies: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Request fields; a `None` value leaves an optional field unset."""
    return st.fixed_dictionaries(strategies)


PARAMS = _mostly(
    st.none(),
    _fields(
        max_completion_tokens=_mostly(st.none(), UINT32),
        temperature=_mostly(st.none(), DOUBLES),
        top_p=_mostly(st.none(), DOUBLES),
        presence_penalty=_mostly(st.none(), DOUBLES),
        frequency_penalty=_mostly(st.none(), DOUBLES),
        stop=_mostly(st.just([]), st.lists(ODD_TEXT, max_size=6)),
    ),
)
REQUESTS: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "CreateChat": _fields(
        user_id=USER_IDS,
        system_message=_mostly(st.none(), ODD_TEXT),
        model=_optional(
            st.one_of(st.sampled_from(["gpt-4o", "o1", "gpt-5", "gpt-4o-2024-08-06"]), ODD_TEXT)
        ),
        params=PARAMS,
    ),
    "SendMessage": _fields(
        user_id=USER_IDS,
        chat_id=CHAT_IDS,
        content=st.one_of(st.sampled_from(["hi", "what?"]), ODD_TEXT),
        request_id=REQUEST_IDS,
    ),
    "Regenerate": _fields(user_id=USER_IDS, chat_id=CHAT_IDS, request_id=REQUEST_IDS),
    "EditMessage": _fields(
        user_id=USER_IDS,
        chat_id=CHAT_IDS,
        message_id=MESSAGE_IDS,
        content=st.one_of(st.sampled_from(["hi", "what?"]), ODD_TEXT),
        request_id=REQUEST_IDS,
    ),
    "ForkChat": _fields(
        user_id=USER_IDS, chat_id=CHAT_IDS, message_id=MESSAGE_IDS, request_id=REQUEST_IDS
    ),
    "ListChats": _fields(
        user_id=USER_IDS,
        limit=_mostly(st.integers(0, 100), UINT32),
        cursor=CURSORS,
        query=_optional(st.one_of(st.sampled_from(["hello", "HELLO there"]), ODD_TEXT)),
    ),
    "ExportChat": _fields(user_id=USER_IDS, chat_id=CHAT_IDS),
    "GetUsage": _fields(
        user_id=USER_IDS,
        from_day=_optional(st.one_of(st.sampled_from(["2031-01-31", "2031-02-30"]), ODD_TEXT)),
        to_day=_optional(st.one_of(st.sampled_from(["2031-02-01", "1999-12-31"]), ODD_TEXT)),
        group_by=_optional(st.one_of(st.sampled_from(["day", "model"]), ODD_TEXT)),
    ),
    "GetChat": _fields(user_id=USER_IDS, chat_id=CHAT_IDS),
    "EndChat": _fields(user_id=USER_IDS, chat_id=CHAT_IDS),
    "DeleteChat": _fields(user_id=USER_IDS, chat_id=CHAT_IDS),
    "ChatStream": _fields(
        user_id=USER_IDS,
        chat_id=_optional(CHAT_IDS),
        user_message=st.one_of(st.sampled_from(["hi"]), ODD_TEXT),
    ),
}


@dataclass
class Seeded:
    live: LiveGrpc
    user_id: str
    talked_to: str
    ended: str
    foreign: str
    cursor: str
    question: str

    async def resolve(self, value: Any) -> Any:
        if isinstance(value, Repeated):
            return value.text * value.times
        if isinstance(value, dict):
            return {name: await self.resolve(item) for name, item in value.items()}
        if isinstance(value, list):
            return [await self.resolve(item) for item in value]
        if not isinstance(value, Seed):
            return value
        if value is Seed.FRESH:
            return (await self.live.v1.CreateChat(pb.CreateChatRequest(user_id=self.user_id))).id
        return {
            Seed.USER: self.user_id,
            Seed.TALKED_TO: self.talked_to,
            Seed.ENDED: self.ended,
            Seed.FOREIGN: self.foreign,
            Seed.CURSOR: self.cursor,
            Seed.QUESTION: self.question,
        }[value]


async def _seed(live: LiveGrpc, user_id: str) -> Seeded:
    v1 = live.v1
    chats = [(await v1.CreateChat(pb.CreateChatRequest(user_id=user_id))).id for _ in range(3)]
    talked_to, ended, _ = chats
    *_, done = await v1.SendMessage(
        pb.SendMessageRequest(user_id=user_id, chat_id=talked_to, content="hi")
    )
    await v1.EndChat(pb.EndChatRequest(user_id=user_id, chat_id=ended))
    foreign = (await v1.CreateChat(pb.CreateChatRequest(user_id=f"{user_id}-other"))).id
    page = await v1.ListChats(pb.ListChatsRequest(user_id=user_id, limit=1))
    question = done.completed.user_message.id
    return Seeded(live, user_id, talked_to, ended, foreign, page.next_cursor, question)


def _request(rpc: str, fields: dict[str, Any]) -> Any:
    """The protobuf request, leaving unset the optional fields drawn as `None`."""
    given = {name: value for name, value in fields.items() if value is not None}
    if rpc == "ChatStream":
        return compat_pb.ChatRequest(**given)
    if "params" in given:
        params = {name: value for name, value in given["params"].items() if value is not None}
        given["params"] = pb.ChatParams(**params)
    return getattr(pb, f"{rpc}Request")(**given)


def _call(channel: Channel, rpc: str) -> Callable[..., Awaitable[Any]]:
    if rpc == "ChatStream":
        return chat_grpc.ChatServiceStub(channel).ChatStream  # type: ignore[no-any-return]
    return getattr(chatservice_v1_grpc.ChatServiceStub(channel), rpc)  # type: ignore[no-any-return]


def _check_success(rpc: str, reply: Any) -> None:
    if rpc in ("SendMessage", "Regenerate", "EditMessage"):
        assert reply and reply[-1].WhichOneof("event") == "completed", reply
    elif rpc == "ChatStream":
        assert reply and all(r.chat_id and r.content for r in reply), reply


@pytest.fixture
async def fuzzed(
    open_live_grpc: LiveGrpcFactory, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[Seeded, Channel]]:
    async with open_live_grpc() as live:
        # A channel of its own: the fixture's channel adds a valid token to every call.
        channel = Channel("127.0.0.1", live.port)
        try:
            yield await _seed(live, unique_user("grpc-fuzz", request)), channel
        finally:
            channel.close()


@pytest.mark.parametrize("rpc", list(REQUESTS))
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
@given(data=st.data())
async def test_every_call_succeeds_or_fails_with_a_documented_status_and_a_message(
    fuzzed: tuple[Seeded, Channel], rpc: str, data: st.DataObject
) -> None:
    seeded, channel = fuzzed
    fields = data.draw(REQUESTS[rpc], label="fields")
    authorization = data.draw(AUTHORIZATIONS, label="authorization")
    fields = await seeded.resolve(fields)
    metadata = {"authorization": authorization} if authorization is not None else None
    try:
        reply = await _call(channel, rpc)(_request(rpc, fields), metadata=metadata, timeout=30)
    except GRPCError as error:
        refused = error
    else:
        _check_success(rpc, reply)
        return
    assert refused.status in DOCUMENTED, (refused.status, refused.message)
    assert refused.message, refused.status
