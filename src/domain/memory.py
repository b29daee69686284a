"""A chat's memory of what the window erased: whether it keeps one, and the running summary."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from chatservice.domain.errors import member_named


class Memory(StrEnum):
    """What a chat keeps of the exchanges its window erased: nothing (`none`, Part I), or a
    running summary the model writes and every later prompt carries (`summary`)."""

    NONE = "none"
    SUMMARY = "summary"


def memory_named(name: str) -> Memory:
    """The memory of that name; `InvalidInput` for any other."""
    return member_named(Memory, "memory", name)


@dataclass(frozen=True)
class ChatSummary:
    """The running summary of a chat's erased exchanges: every erased message up to and
    including position `covers_through_position` is folded into `content`, none after it.

    `tokens`: its cost as a system message, counted once when stored, in the chat's model's
    encoding. `version`: 1 for the first summary, bumped by every later one; a summary is stored
    only over the version it was written from (no fold lost to another)."""

    content: str
    tokens: int
    covers_through_position: int
    updated_at: datetime
    version: int = 1
