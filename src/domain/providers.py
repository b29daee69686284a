"""What the service knows about the model providers it talks to, whichever adapter calls them."""

from __future__ import annotations

import math
import re

OPENAI_HOST = "api.openai.com"
ANTHROPIC_API_URL = "https://api.anthropic.com"
ANTHROPIC_HOST = "api.anthropic.com"


def is_openai_endpoint(base_url: str | None) -> bool:
    """Whether calls go to OpenAI's own endpoint (no base URL, or one on its host), which needs a
    key; OpenAI-compatible servers may not."""
    return not base_url or OPENAI_HOST in base_url


def is_anthropic_endpoint(base_url: str) -> bool:
    """Whether calls go to Anthropic's own endpoint, which needs a key; Anthropic-compatible
    servers (a proxy, a local stand-in) may not."""
    return ANTHROPIC_HOST in base_url


def retry_after_seconds(header: str | None) -> float | None:
    """A provider's `Retry-After` header as a delay in seconds; None when it is absent or no
    finite, non-negative number of seconds (an HTTP date is not passed on)."""
    try:
        seconds = float(header or "")
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


# How providers say what a prompt they refused as too long counted. OpenAI, vLLM and DeepSeek:
# "… However, you requested 9100 tokens (8100 in the messages, 1000 in the completion). …";
# OpenAI before: "… However, your messages resulted in 17000 tokens. …"; vLLM since: "…
# However, your request has 9000 input tokens. …", "… and your request has 53947 input tokens
# (16384 > 65536 - 53947)", "… your prompt contains at least 126977 input tokens. …";
# OpenRouter: "… you requested about 12000 tokens (10000 of text input, 2000 in the output)";
# Anthropic: "prompt is too long: 208656 tokens > 200000 maximum", "input length and
# `max_tokens` exceed context limit: 197626 + 8192 > 200000".
_REFUSED_PROMPT_TOKENS = re.compile(
    r"(\d+) in the messages|messages resulted in (\d+) tokens|request has (\d+) input tokens"
    r"|contains at least (\d+) input tokens|(\d+) of text input"
    r"|prompt is too long: (\d+) tokens|context limit: (\d+) \+"
)
#: Every way above of saying that the prompt was too long, for servers that give no error code
#: for it (vLLM answers with `code: 400`).
CONTEXT_OVERFLOW = re.compile(
    r"maximum context length|prompt is too long|exceeds? context limit", re.IGNORECASE
)


def refused_prompt_tokens(error_message: str) -> int | None:
    """The prompt's tokens, as the provider counted them, from its refusal of the prompt as too
    long; None when the message does not say."""
    found = _REFUSED_PROMPT_TOKENS.search(error_message)
    if found is None:
        return None
    return int(next(group for group in found.groups() if group is not None))
