"""API fuzzing: schemathesis drives every operation of the OpenAPI document the app serves.

The app runs behind a real uvicorn server on each database, and the document is read from its
`/schema/openapi.json`. For every operation schemathesis makes its boundary cases (the coverage
phase: limits, missing and wrongly typed fields, unexpected methods) and Hypothesis generates
`EXAMPLES[mode]` requests that fit the schema and that break it. A share of the requests is
aimed at a valid user and at chats that are fresh, talked to (with that turn's request id), ended,
someone else's or never made, so the deep paths run too; a share goes without a valid token, and a
share asks for the reply as Server-Sent Events. Every response must be documented: never a 5xx, a
declared status, the declared content type, headers and body schema (each event of a stream
included).

Derandomized and bounded, so CI runs the same requests every time and a failure reproduces with
`pytest tests/integration/test_api_fuzzing.py`.
"""

from __future__ import annotations

import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from support.http import AUTH, ROTATED_TOKEN, TOKEN, served_in_a_thread

#: Generated requests per operation and database, by generation mode. Fewer that break the
#: schema: validation refuses them before any use case runs, and the coverage phase (the
#: boundary test) already sends the schema's breaks field by field (missing, wrongly typed,
#: out of range).
EXAMPLES = {GenerationMode.POSITIVE: 50, GenerationMode.NEGATIVE: 20}

#: Every operation of the document; a route added without being fuzzed fails the first test.
OPERATIONS = [
    "GET /healthz",
    "GET /readyz",
    "POST /chat",
    "POST /v1/users/{user_id}/chats",
    "GET /v1/users/{user_id}/chats",
    "GET /v1/users/{user_id}/chats/{chat_id}",
    "POST /v1/users/{user_id}/chats/{chat_id}/messages",
    "POST /v1/users/{user_id}/chats/{chat_id}/end",
    "POST /v1/users/{user_id}/chats/{chat_id}/regenerate",
    "POST /v1/users/{user_id}/chats/{chat_id}/messages/{message_id}/edit",
    "POST /v1/users/{user_id}/chats/{chat_id}/fork",
    "DELETE /v1/users/{user_id}/chats/{chat_id}",
    "GET /v1/users/{user_id}/chats/{chat_id}/turns/{request_id}",
    "GET /v1/users/{user_id}/chats/{chat_id}/turns/{request_id}/events",
    "POST /v1/users/{user_id}/chats/{chat_id}/turns/{request_id}/cancel",
    "GET /v1/users/{user_id}/chats/{chat_id}/export",
    "GET /v1/users/{user_id}/export",
    "POST /v1/users/{user_id}/chats/import",
    "DELETE /v1/users/{user_id}",
    "GET /v1/users/{user_id}/usage",
    "POST /openai/v1/responses",
    "GET /openai/v1/responses/{response_id}",
    "DELETE /openai/v1/responses/{response_id}",
    "POST /openai/v1/responses/{response_id}/cancel",
    "GET /openai/v1/responses/{response_id}/input_items",
    "POST /openai/v1/conversations",
    "GET /openai/v1/conversations/{conversation_id}",
    "DELETE /openai/v1/conversations/{conversation_id}",
    "GET /openai/v1/conversations/{conversation_id}/items",
    "POST /openai/v1/conversations/{conversation_id}/items",
    # Twilio is not configured here, so every request gets its documented 404.
    "POST /v1/twilio/whatsapp",
]

#: The operations that declare no input, so no request can break their schema (the webhook reads
#: Twilio's form itself).
NO_DECLARED_INPUT = ("GET /healthz", "GET /readyz", "POST /v1/twilio/whatsapp")

# `negative_data_rejection` is left out on purpose: requests are re-aimed after generation (ids,
# token), which would leave its record of which part of a request is invalid stale. Whatever a
# request holds, these checks hold for its response.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]

#: Authorization headers: mostly valid (so the routes run), in both accepted forms, and some not.
AUTHORIZATIONS = st.sampled_from(
    [
        f"Bearer {TOKEN}",
        f"Bearer {TOKEN}",
        TOKEN,
        f"bearer {ROTATED_TOKEN}",
        None,
        "Bearer not-a-token",
        "Bearer ",
    ]
)

#: Where a request's user and chat ids point: at real data, or where schemathesis put them.
TARGETS = st.sampled_from(
    ["fresh chat", "talked-to chat", "ended chat", "foreign chat", "unknown chat", "generated"]
)

#: What the client accepts: the JSON default, or a reply as Server-Sent Events.
ACCEPTS = st.sampled_from([None, "text/event-stream", "application/json"])


@dataclass
class Seeded:
    """Data made before fuzzing an operation, for its requests to aim at."""

    base_url: str
    user_id: str
    talked_to: str
    ended: str
    foreign: str
    cursor: str
    #: The request id of the talked-to chat's turn.
    request_id: str
    #: The talked-to chat's user message (edited, perhaps, by an earlier request).
    message_id: str
    #: A response of the user's (the OpenAI surface), in a chat of its own.
    response_id: str

    def fresh_chat(self) -> str:
        return _new_chat(self.base_url, self.user_id)


def _new_chat(base_url: str, user_id: str) -> str:
    response = httpx.post(f"{base_url}/v1/users/{user_id}/chats", json={}, headers=AUTH)
    assert response.status_code == 201, response.text
    chat_id: str = response.json()["id"]
    return chat_id


#: The idempotency key, so the request id, of the seeded turn.
SEEDED_REQUEST_ID = "seeded-turn"


def _seed(base_url: str, user_id: str) -> Seeded:
    talked_to = _new_chat(base_url, user_id)
    said = httpx.post(
        f"{base_url}/v1/users/{user_id}/chats/{talked_to}/messages",
        json={"content": "hello"},
        headers={**AUTH, "Idempotency-Key": SEEDED_REQUEST_ID},
    )
    assert said.status_code == 200, said.text
    ended = _new_chat(base_url, user_id)
    end = httpx.post(f"{base_url}/v1/users/{user_id}/chats/{ended}/end", headers=AUTH)
    assert end.status_code == 200, end.text
    foreign = _new_chat(base_url, f"{user_id}-other")
    page = httpx.get(f"{base_url}/v1/users/{user_id}/chats?limit=1", headers=AUTH).json()
    question = said.json()["message"]["position"] - 1
    chat = httpx.get(f"{base_url}/v1/users/{user_id}/chats/{talked_to}", headers=AUTH).json()
    message_id = chat["messages"][question]["id"]
    response = httpx.post(
        f"{base_url}/openai/v1/responses",
        json={"input": "hello"},
        headers={**AUTH, "X-Chatservice-User": user_id},
    )
    assert response.status_code == 200, response.text
    return Seeded(
        base_url,
        user_id,
        talked_to,
        ended,
        foreign,
        page["next_cursor"],
        SEEDED_REQUEST_ID,
        message_id,
        response.json()["id"],
    )


@pytest.fixture(scope="module")
def live_url(database_url: str) -> Iterator[str]:
    with served_in_a_thread(database_url) as url:
        yield url


@pytest.fixture(scope="module")
def api_schema(live_url: str) -> Any:  # schemathesis's schema class is not part of its API
    return schemathesis.openapi.from_url(f"{live_url}/schema/openapi.json")


def _aim(case: Any, target: str, seeded: Seeded) -> None:
    """Point the case's user and chat ids at `target`: in the path, or in the compat body."""
    if target == "generated":
        return
    chat_id = {
        "fresh chat": None,
        "talked-to chat": seeded.talked_to,
        "ended chat": seeded.ended,
        "foreign chat": seeded.foreign,
        "unknown chat": str(uuid.uuid4()),
    }[target]
    if "user_id" in case.path_parameters:
        case.path_parameters["user_id"] = seeded.user_id
    if "chat_id" in case.path_parameters:
        case.path_parameters["chat_id"] = chat_id or seeded.fresh_chat()
    if target == "talked-to chat" and "cursor" in (case.query or {}):
        case.query["cursor"] = seeded.cursor
    if target == "talked-to chat" and "request_id" in case.path_parameters:
        case.path_parameters["request_id"] = seeded.request_id
    if target == "talked-to chat" and "message_id" in case.path_parameters:
        case.path_parameters["message_id"] = seeded.message_id
    forks = case.operation.label.endswith("/fork") and isinstance(case.body, dict)
    if target == "talked-to chat" and forks and "message_id" in case.body:
        case.body["message_id"] = seeded.message_id
    _aim_openai(case, target, chat_id or seeded.fresh_chat(), seeded)
    if case.operation.label == "POST /chat" and isinstance(case.body, dict):
        case.body["user_id"] = seeded.user_id
        if chat_id is None:
            case.body.pop("chat_id", None)
        else:
            case.body["chat_id"] = chat_id


def _aim_openai(case: Any, target: str, chat_id: str, seeded: Seeded) -> None:
    """The OpenAI surface's user (a header), conversation (a chat) and response."""
    if not case.operation.label.split(" ")[1].startswith("/openai/"):
        return
    case.headers = {**(case.headers or {}), "X-Chatservice-User": seeded.user_id}
    if "conversation_id" in case.path_parameters:
        case.path_parameters["conversation_id"] = f"conv_{chat_id}"
    if "response_id" in case.path_parameters:
        talked_to = target == "talked-to chat"
        unknown = f"resp_{uuid.uuid4().hex}"
        case.path_parameters["response_id"] = seeded.response_id if talked_to else unknown


def _send_and_check(
    case: Any, base_url: str, authorization: str | None, accept: str | None = None
) -> None:
    """Send the case with these headers instead of its own, and run every check on the answer."""
    headers = {
        name: value
        for name, value in (case.headers or {}).items()
        if name.lower() not in ("authorization", "accept")
    }
    if authorization is not None:
        headers["Authorization"] = authorization
    if accept is not None:
        headers["Accept"] = accept
    case.headers = headers
    # No `requests.Session`: schemathesis would let the session's default `Accept: */*` win.
    case.call_and_validate(base_url=base_url, checks=CHECKS, timeout=30)


def test_every_operation_of_the_document_is_fuzzed(api_schema: Any) -> None:
    results = list(api_schema.get_all_operations())
    assert all(isinstance(result, Ok) for result in results), results
    assert {result.ok().label for result in results} == set(OPERATIONS)


@pytest.mark.parametrize("label", OPERATIONS)
def test_boundary_requests_get_documented_responses(
    api_schema: Any, live_url: str, label: str
) -> None:
    operation = api_schema.find_operation_by_label(label)
    seeded = _seed(live_url, f"edge-{zlib.crc32(label.encode())}")
    cases = list(
        api_schema.iter_coverage_cases(
            operation,
            generation_modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
            generation_config=api_schema.config.generation_for(
                operation=operation, phase="coverage"
            ),
        )
    )
    assert cases, label
    targets = ["generated", "fresh chat", "talked-to chat", "ended chat"]
    for index, case in enumerate(cases):
        _aim(case, targets[index % len(targets)], seeded)
        _send_and_check(case, live_url, f"Bearer {TOKEN}")


@pytest.mark.parametrize(
    ("label", "mode"),
    [
        *((label, GenerationMode.POSITIVE) for label in OPERATIONS),
        *(
            (label, GenerationMode.NEGATIVE)
            for label in OPERATIONS
            if label not in NO_DECLARED_INPUT
        ),
    ],
)
def test_no_request_gets_a_server_error_or_an_undocumented_response(
    api_schema: Any, live_url: str, label: str, mode: GenerationMode
) -> None:
    operation = api_schema.find_operation_by_label(label)
    seeded = _seed(live_url, f"fuzz-{zlib.crc32(f'{label} {mode}'.encode())}")

    @settings(
        max_examples=EXAMPLES[mode],
        derandomize=True,
        deadline=None,
        database=None,
        # Real HTTP and a real database are slow by Hypothesis's standards, and meant to be.
        suppress_health_check=list(HealthCheck),
    )
    @given(
        case=operation.as_strategy(generation_mode=mode),
        target=TARGETS,
        authorization=AUTHORIZATIONS,
        accept=ACCEPTS,
    )
    def fuzz(case: Any, target: str, authorization: str | None, accept: str | None) -> None:
        _aim(case, target, seeded)
        _send_and_check(case, live_url, authorization, accept)

    fuzz()
