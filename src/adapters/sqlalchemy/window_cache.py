"""`WindowCache`: this replica's copy of recently used chats' windows, each under the chat version
it belongs to.

A turn's claim reads the chat row, and with it the version, in its transaction; when the cache
holds the window of exactly that version, the claim skips reading and decoding the window's rows.
Every change to a chat's messages bumps its version in the same transaction (`commit_turn`), so
an entry that another replica (or anything else) has overtaken is never used, only replaced. The
entries are bounded by an estimate of the memory they hold (content plus a fixed cost per
message); the least recently used go first.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from chatservice.domain.chat import Message

#: What a message costs beyond its content: the object, its ids and timestamps, in bytes (about).
MESSAGE_OVERHEAD_BYTES = 600


class WindowCache:
    def __init__(self, max_bytes: int) -> None:
        """`max_bytes`: the estimated memory held at most (0 turns the cache off)."""
        self._max_bytes = max_bytes
        self._bytes = 0
        self._entries: OrderedDict[str, tuple[int, tuple[Message, ...], int]] = OrderedDict()

    def get(self, chat_id: str, version: int) -> list[Message] | None:
        """The window of `chat_id` at `version`, or None when it is not held at that version."""
        entry = self._entries.get(chat_id)
        if entry is None or entry[0] != version:
            return None
        self._entries.move_to_end(chat_id)
        return list(entry[1])

    def put(self, chat_id: str, version: int, window: Sequence[Message]) -> None:
        self.forget(chat_id)
        size = sum(len(m.content) + MESSAGE_OVERHEAD_BYTES for m in window)
        if size > self._max_bytes:
            return
        self._entries[chat_id] = (version, tuple(window), size)
        self._bytes += size
        while self._bytes > self._max_bytes:
            _, (_, _, evicted) = self._entries.popitem(last=False)
            self._bytes -= evicted

    def advance(
        self, chat_id: str, version: int, erase_before: int | None, added: Sequence[Message]
    ) -> None:
        """Record a committed turn: the window at `version` loses the messages erased before
        position `erase_before` (never the system message, position 0) and gains `added`, as
        version `version + 1`. Nothing happens unless the window at `version` is held."""
        window = self.get(chat_id, version)
        if window is None:
            return
        if erase_before is not None:
            window = [m for m in window if m.position == 0 or m.position >= erase_before]
        self.put(chat_id, version + 1, [*window, *added])

    def forget(self, chat_id: str) -> None:
        entry = self._entries.pop(chat_id, None)
        if entry is not None:
            self._bytes -= entry[2]

    @property
    def size_bytes(self) -> int:
        """The estimated memory held."""
        return self._bytes
