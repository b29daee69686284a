"""What the turn benchmarks start from: the message they send and the chats they send it to."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from chatservice.application.ports import ChatRepository
from chatservice.domain.chat import Chat, ChatParams, Message, Role

MESSAGE = "please tell me something about the weather today"


async def add_chats(repository: ChatRepository, count: int, user_prefix: str) -> list[Chat]:
    """`count` chats holding a system message, of users `{user_prefix}-0`, `{user_prefix}-1`, …"""
    chats = []
    for i in range(count):
        now = datetime.now(UTC)
        system = Message(str(uuid.uuid4()), Role.SYSTEM, "Be brief.", 10, 0, now)
        chat = Chat(str(uuid.uuid4()), f"{user_prefix}-{i}", "gpt-4o-mini", ChatParams(256), now,
                    now, messages=[system])  # fmt: skip
        await repository.add_chat(chat)
        chats.append(chat)
    return chats
