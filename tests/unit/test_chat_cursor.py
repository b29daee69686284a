"""Cursors: a page cursor the service did not hand out is bad input, never a crash."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from chatservice.application.chats import decode_cursor, encode_cursor
from chatservice.application.ports import ChatCursor
from chatservice.domain.errors import InvalidInput


def cursor_of(payload: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def test_a_cursor_survives_the_round_trip_in_utc() -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=timezone(timedelta(hours=5)))
    decoded = decode_cursor(encode_cursor(ChatCursor(moment, "chat-1")))
    assert decoded == ChatCursor(moment.astimezone(UTC), "chat-1")
    assert decoded.updated_at.tzinfo is UTC


@pytest.mark.parametrize(
    "token",
    [
        # Found by tests/integration/test_grpc_fuzzing.py: each of these was a 500 / UNKNOWN.
        cursor_of(["2026-01-01T00:00:00+00:00", "\ud800"]),
        cursor_of(["0001-01-01T00:00:00+01:00", "chat-1"]),
        cursor_of(["9999-12-31T23:59:59-01:00", "chat-1"]),
        base64.urlsafe_b64encode(b"[" * 2000).decode(),
        # Refused before as well.
        cursor_of(["2026-01-01T00:00:00", "chat-1"]),
        cursor_of(["2026-01-01T00:00:00+00:00", 5]),
        cursor_of({"a": 1, "b": 2}),
        "not base64 at all!",
    ],
)
def test_a_cursor_the_service_did_not_make_is_invalid_input(token: str) -> None:
    with pytest.raises(InvalidInput, match="cursor is not one this service handed out"):
        decode_cursor(token)
