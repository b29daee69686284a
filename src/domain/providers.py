"""What the service knows about the model providers it talks to, whichever adapter calls them."""

from __future__ import annotations

import math

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
