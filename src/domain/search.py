"""Search words: what a chat search matches on, the same for the text stored and the query."""

from __future__ import annotations

import re

from chatservice.domain.errors import InvalidInput

#: A word: a run of letters and digits (an underscore or any other mark separates words).
_WORD = re.compile(r"[^\W_]+")
#: Longer words are matched on their first this many characters (full-text indexes drop
#: longer tokens).
WORD_CHARS = 64
#: The most words, and characters, a query may hold.
MAX_QUERY_WORDS = 16
MAX_QUERY_CHARS = 512


def search_words(text: str) -> tuple[str, ...]:
    """The distinct words of `text`, case-folded, in the order they first appear."""
    return tuple(dict.fromkeys(w[:WORD_CHARS] for w in _WORD.findall(text.casefold())))


def query_words(query: str) -> tuple[str, ...]:
    """The words a chat must contain to match `query`; `InvalidInput` for a query with no
    word, or too long."""
    if len(query) > MAX_QUERY_CHARS:
        raise InvalidInput(f"q is longer than {MAX_QUERY_CHARS} characters")
    words = search_words(query)
    if not words:
        raise InvalidInput("q must hold at least one word (letters or digits)")
    if len(words) > MAX_QUERY_WORDS:
        raise InvalidInput(f"q holds more than {MAX_QUERY_WORDS} words")
    return words
