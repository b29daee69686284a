"""The settings the fallback tests run on: fake providers, the chats' model and its fallbacks
(tests/unit/test_fallbacks.py, and the web chat page's label of a fallback's reply)."""

from __future__ import annotations

from typing import Any


def model(provider: str, window: int = 8192, output: int = 1024, **more: Any) -> dict[str, Any]:
    return {"provider": provider, "context_window": window, "max_output": output, **more}


def settings(**models: dict[str, Any]) -> dict[str, Any]:
    """Three fake providers: `own` serves the chats' model, `first` and `second` its fallbacks."""
    return {
        "providers": {name: {"kind": "fake"} for name in ("own", "first", "second")},
        "models": {
            "own-model": model("own", fallbacks=["first-model", "second-model"]),
            "first-model": model("first"),
            "second-model": model("second"),
            **models,
        },
        "model": "own-model",
        "max_completion_tokens": 512,
    }
