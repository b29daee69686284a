"""Error messages repeat a caller's text only so far: a gRPC status message is an HTTP/2 header."""

from __future__ import annotations

import pytest

from chatservice.domain.errors import SHOWN_CHARS, ChatNotFound, InvalidInput
from chatservice.domain.models import ModelRegistry


def test_a_short_chat_id_is_quoted_whole() -> None:
    assert ChatNotFound("abc").message == "chat 'abc' not found"


def test_a_huge_chat_id_is_cut_in_the_message() -> None:
    message = ChatNotFound("x" * 100_000).message
    assert len(message) < SHOWN_CHARS + 60
    assert "100000 characters" in message


def test_a_huge_unknown_model_name_is_cut_in_the_message() -> None:
    with pytest.raises(InvalidInput, match="unknown model") as refused:
        ModelRegistry().lookup("🙂" * 100_000)
    assert len(refused.value.message) < SHOWN_CHARS + 120
