"""Offline token counts (`TokenCounter`). Contract: `tests/contract/test_token_counter.py`."""

from __future__ import annotations

from typing import Protocol


class TokenCounter(Protocol):
    """Counts tokens offline, byte-exact for the named encoding; special tokens are plain text."""

    def count(self, encoding: str, text: str) -> int: ...

    def message_cost(
        self, encoding: str, role: str, content: str, name: str | None = None
    ) -> int: ...
