"""A response's input as one turn, and the rules on its ids and metadata."""

from __future__ import annotations

import pytest

from chatservice.domain.errors import InvalidInput
from chatservice.domain.responses import (
    InputMessage,
    InputPart,
    TurnInput,
    chat_id_of,
    conversation_id,
    turn_input,
    validate_metadata,
)


def test_a_string_input_is_the_users_message() -> None:
    assert turn_input("hello") == TurnInput("hello")


def test_user_text_parts_join_into_one_message_and_system_items_become_instructions() -> None:
    given = [
        InputMessage("developer", "Be brief."),
        InputMessage("user", [InputPart("input_text", "first"), InputPart("input_text", "second")]),
        InputMessage("system", [InputPart("input_text", "No jokes.")]),
        InputMessage("user", "third"),
    ]
    assert turn_input(given) == TurnInput("first\n\nsecond\n\nthird", "Be brief.\n\nNo jokes.")


@pytest.mark.parametrize(
    "given",
    [
        [InputMessage("assistant", "an earlier reply"), InputMessage("user", "hi")],
        [InputMessage("system", "instructions alone")],
        [InputMessage("user", [InputPart("input_image")])],
        [],
    ],
    ids=["assistant item", "no user item", "an image", "nothing"],
)
def test_what_is_no_users_text_is_refused(given: list[InputMessage]) -> None:
    with pytest.raises(InvalidInput):
        turn_input(given)


def test_a_conversation_id_is_its_chats_id_behind_conv() -> None:
    assert chat_id_of(conversation_id("6f1c")) == "6f1c"
    for not_one in ("6f1c", "conv_", "resp_6f1c"):
        with pytest.raises(InvalidInput):
            chat_id_of(not_one)


def test_metadata_is_held_to_openais_limits() -> None:
    assert validate_metadata(None) == {}
    assert validate_metadata({"k": "v" * 512}) == {"k": "v" * 512}
    for broken in ({str(n): "" for n in range(17)}, {"k" * 65: ""}, {"": "v"}, {"k": "v" * 513}):
        with pytest.raises(InvalidInput):
            validate_metadata(broken)
