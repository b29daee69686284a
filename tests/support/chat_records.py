"""Chats, messages, claims and turns as a repository stores them, for the repository tests."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from chatservice.application.ports import ChatRepository, TurnClaim
from chatservice.domain.chat import Chat, ChatParams, Message, Role, Usage
from chatservice.domain.turn import TurnRecord
from chatservice.domain.usage import CallKind, PaidCall

T0 = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)


def new_id() -> str:
    return str(uuid.uuid4())


def new_user(name: str = "user") -> str:
    return f"{uuid.uuid4().hex[:12]}-{name}"


def message(
    position: int, role: Role = Role.USER, content: str = "hello", **fields: object
) -> Message:
    created = fields.pop("created_at", T0 + timedelta(seconds=position))
    return Message(new_id(), role, content, 7 + position, position, created, **fields)  # type: ignore[arg-type]


def exchange(
    position: int, idempotency_key: str | None = None, erased: bool = False
) -> list[Message]:
    return [
        message(
            position,
            Role.USER,
            f"question {position}",
            erased=erased,
            idempotency_key=idempotency_key or new_id(),
        ),
        message(
            position + 1,
            Role.ASSISTANT,
            f"answer {position + 1}",
            erased=erased,
            finish_reason="stop",
            prompt_tokens=40 + position,
            completion_tokens=9,
            estimated_prompt_tokens=38 + position,
            model="gpt-4o-mini",
        ),
    ]


def new_chat(user_id: str, exchanges: int = 0, erased: int = 0, **fields: object) -> Chat:
    """A chat with a system message and `exchanges` exchanges, the first `erased` of them erased."""
    messages = [message(0, Role.SYSTEM, "You are terse.")]
    for index in range(exchanges):
        messages += exchange(1 + 2 * index, erased=index < erased)
    values: dict[str, object] = {
        "model": "gpt-4o-mini",
        "params": ChatParams(256),
        "created_at": T0,
        "updated_at": T0,
        **fields,
    }
    return Chat(new_id(), user_id, messages=messages, **values)  # type: ignore[arg-type]


def claim(idempotency_key: str | None = None, at: datetime = T0, ttl: float = 120) -> TurnClaim:
    return TurnClaim(idempotency_key or new_id(), at, at + timedelta(seconds=ttl))


def turn(
    chat: Chat,
    idempotency_key: str,
    erase_before: int | None = None,
    title: str | None = "A title",
    version: int | None = None,
) -> TurnRecord:
    position = chat.messages[-1].position + 1
    user, reply = exchange(position, idempotency_key)
    return TurnRecord(
        chat_id=chat.id,
        user_id=chat.user_id,
        idempotency_key=idempotency_key,
        expected_version=chat.version if version is None else version,
        user_message=user,
        reply=replace(reply, usage_estimated=True),
        erase_before=erase_before,
        usage=Usage(100, 20),
        title=title,
        updated_at=T0 + timedelta(minutes=5),
    )


async def stored_chat(chats: ChatRepository, user_id: str) -> str:
    """The id of a new empty chat of `user_id`, stored: for stores whose rows refer to chats
    by foreign key."""
    chat = Chat(new_id(), user_id, "gpt-4o-mini", ChatParams(256), T0, T0)
    await chats.add_chat(chat)
    return chat.id


LATER = T0 + timedelta(minutes=5)


def regeneration(chat: Chat, key: str, erase_before: int | None = None) -> TurnRecord:
    """A regenerate on `chat` (its window ends with a question and its reply): the reply is
    superseded and a new one, carrying the key, answers the same question."""
    old_reply = chat.messages[-1]
    reply = message(
        old_reply.position + 1,
        Role.ASSISTANT,
        "a better answer",
        idempotency_key=key,
        replaces=old_reply.id,
        finish_reason="stop",
        prompt_tokens=50,
        completion_tokens=8,
    )
    return TurnRecord(
        chat_id=chat.id,
        user_id=chat.user_id,
        idempotency_key=key,
        expected_version=chat.version,
        user_message=None,
        reply=reply,
        erase_before=erase_before,
        usage=Usage(50, 8),
        title=None,
        updated_at=LATER,
        supersede_from=old_reply.position,
    )


def edit(chat: Chat, key: str) -> TurnRecord:
    """An edit of `chat`'s last question (its window ends with it and its reply)."""
    question = chat.messages[-2]
    position = chat.messages[-1].position + 1
    new_question, reply = exchange(position, key)
    return replace(
        turn(chat, key),
        user_message=replace(new_question, replaces=question.id),
        reply=reply,
        supersede_from=question.position,
    )


def history_of_versions(user_id: str) -> Chat:
    """System, an erased exchange, then a question whose first reply was superseded by a second,
    and one more exchange: positions 0 · 1 2 (erased) · 3 4 (superseded) 5 · 6 7."""
    chat = new_chat(user_id, exchanges=2, erased=1)
    first_reply = replace(chat.messages[4], superseded=True)
    second = message(5, Role.ASSISTANT, "second answer", replaces=first_reply.id)
    chat.messages[4:] = [first_reply, second, *exchange(6)]
    return chat


def summary_call(
    usage: Usage, model: str = "gpt-4o-mini", at: datetime = LATER, charged_to: tuple[str, ...] = ()
) -> PaidCall:
    """A summary call as `store_summary` records it in the usage ledger."""
    return PaidCall(CallKind.SUMMARY, model, at, usage, charged_to)
