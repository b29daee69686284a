"""The `TokenCounter` contract, held against OpenAI's published figures (docs/adr/0002)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chatservice.adapters.tiktoken_counter import TiktokenTokenCounter
from chatservice.application.ports import TokenCounter
from chatservice.domain.tokens import prompt_cost

COUNTERS = [TiktokenTokenCounter]

REFERENCE_CONVERSATION = json.loads(
    (Path(__file__).parents[1] / "support" / "reference_conversation.json").read_text()
)


@pytest.fixture(params=COUNTERS, ids=lambda c: c.__name__, scope="module")
def counter(request: pytest.FixtureRequest) -> TokenCounter:
    return request.param()  # type: ignore[no-any-return]


@pytest.mark.parametrize(("encoding", "expected"), [("cl100k_base", 129), ("o200k_base", 124)])
def test_the_reference_conversation_costs_the_published_prompt_tokens(
    counter: TokenCounter, encoding: str, expected: int
) -> None:
    total = prompt_cost(
        counter.message_cost(encoding, m["role"], m["content"], m.get("name"))
        for m in REFERENCE_CONVERSATION
    )
    assert total == expected


def test_hello_world_encodes_byte_exact() -> None:
    counter = TiktokenTokenCounter()
    assert counter.encoding("cl100k_base").encode("hello world") == [15339, 1917]
    assert counter.encoding("o200k_base").encode("hello world") == [24912, 2375]


@pytest.mark.parametrize("encoding", ["cl100k_base", "o200k_base"])
def test_special_token_strings_count_as_plain_text(counter: TokenCounter, encoding: str) -> None:
    # As a special token it would be one token; as text it is several, and never an error.
    assert counter.count(encoding, "<|endoftext|>") > 1
    assert counter.count(encoding, "say <|endofprompt|> now") > 3


@pytest.mark.parametrize("encoding", ["cl100k_base", "o200k_base"])
def test_a_message_costs_its_overhead_role_and_content(
    counter: TokenCounter, encoding: str
) -> None:
    content = "Olá 🙂 𝄞 — the quick brown fox"
    assert counter.message_cost(encoding, "user", content) == 3 + 1 + counter.count(
        encoding, content
    )
    named = counter.message_cost(encoding, "user", content, name="bob")
    assert named == counter.message_cost(encoding, "user", content) + 1 + counter.count(
        encoding, "bob"
    )


def test_empty_text_costs_nothing(counter: TokenCounter) -> None:
    assert counter.count("o200k_base", "") == 0


def test_an_unknown_encoding_is_refused(counter: TokenCounter) -> None:
    with pytest.raises(RuntimeError, match="p50k_base"):
        counter.count("p50k_base", "hi")
