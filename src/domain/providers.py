"""What the service knows about the model providers it talks to, whichever adapter calls them."""

from __future__ import annotations

OPENAI_HOST = "api.openai.com"


def is_openai_endpoint(base_url: str | None) -> bool:
    """Whether calls go to OpenAI's own endpoint (no base URL, or one on its host), which needs a
    key; OpenAI-compatible servers may not."""
    return not base_url or OPENAI_HOST in base_url
