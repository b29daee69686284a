"""`WindowCache`: this replica's copy of recently used chats, each as its row and its window (the
messages neither erased nor superseded) at one version of the chat.

Every change to a chat, its messages included, bumps its version in the same transaction, so a
copy is exactly the stored chat for as long as the stored version equals the copy's. A turn's
claim uses a copy only through `UPDATE … WHERE version = :copy's version`, in the claim's own
transaction: when that claims the chat, nothing is read; when it matches no row (another replica
moved the chat on, or it is busy or gone), the claim reads the chat as if nothing were cached.
The entries are bounded by an estimate of the memory they hold (content plus a fixed cost per
message); the least recently used go first.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, replace

from chatservice.domain.chat import Chat
from chatservice.domain.turn import TurnRecord

#: What a message costs beyond its content: the object, its ids and timestamps, in bytes (about).
MESSAGE_OVERHEAD_BYTES = 600


@dataclass(frozen=True)
class _Entry:
    chat: Chat  # its `messages`: the window, never handed out
    size: int


class WindowCache:
    def __init__(self, max_bytes: int) -> None:
        """`max_bytes`: the estimated memory held at most (0 turns the cache off)."""
        self._max_bytes = max_bytes
        self._bytes = 0
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    def get(self, chat_id: str) -> Chat | None:
        """A copy of the chat with its window, at the version it was stored at; or None."""
        entry = self._entries.get(chat_id)
        if entry is None:
            return None
        self._entries.move_to_end(chat_id)
        return replace(entry.chat, messages=list(entry.chat.messages))

    def put(self, chat: Chat) -> None:
        """Hold `chat` as stored at `chat.version`, with its window (`Message.in_window`)."""
        self.forget(chat.id)
        window = [m for m in chat.messages if m.in_window]
        size = sum(len(m.content) + MESSAGE_OVERHEAD_BYTES for m in window)
        if size > self._max_bytes:
            return
        self._entries[chat.id] = _Entry(replace(chat, messages=window), size)
        self._bytes += size
        while self._bytes > self._max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self._bytes -= evicted.size

    def record_turn(self, turn: TurnRecord) -> None:
        """Apply a committed turn to the held chat as `commit_turn`'s SQL applies it to the rows
        (`TurnRecord.applied_to`). Nothing is held unless the chat was held at the version the
        turn started from."""
        entry = self._entries.get(turn.chat_id)
        if entry is None or entry.chat.version != turn.expected_version:
            self.forget(turn.chat_id)
            return
        self.put(turn.applied_to(entry.chat))

    def forget(self, chat_id: str) -> None:
        entry = self._entries.pop(chat_id, None)
        if entry is not None:
            self._bytes -= entry.size

    @property
    def size_bytes(self) -> int:
        """The estimated memory held."""
        return self._bytes
