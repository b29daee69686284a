"""Checking the sampling parameters a caller asks for against what the model accepts."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from chatservice.domain.chat import ChatParams
from chatservice.domain.errors import InvalidInput
from chatservice.domain.models import ModelSpec

MAX_STOP_SEQUENCES = 4
MAX_STOP_CHARS = 256

_RANGES = {
    "temperature": (0.0, 2.0),
    "top_p": (0.0, 1.0),
    "presence_penalty": (-2.0, 2.0),
    "frequency_penalty": (-2.0, 2.0),
}


@dataclass(frozen=True)
class RequestedParams:
    """What a caller asked for; `None` means "the default"."""

    max_completion_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    stop: tuple[str, ...] | None = None


def resolve_params(model: ModelSpec, asked: RequestedParams, default_reserve: int) -> ChatParams:
    """The chat's parameters: the caller's where given, else the defaults; all checked."""
    reserve = asked.max_completion_tokens
    if reserve is None:
        reserve = min(default_reserve, model.max_output)
    elif not 1 <= reserve <= model.max_output:
        raise InvalidInput(
            f"max_completion_tokens must be between 1 and {model.max_output} for {model.name}"
        )
    for name, (low, high) in _RANGES.items():
        value = getattr(asked, name)
        if value is None:
            continue
        if name not in model.sampling_params:
            raise InvalidInput(f"{model.name} does not accept {name}")
        if not (math.isfinite(value) and low <= value <= high):
            raise InvalidInput(f"{name} must be between {low} and {high}")
    stop = asked.stop or ()
    if stop and "stop" not in model.sampling_params:
        raise InvalidInput(f"{model.name} does not accept stop sequences")
    if len(stop) > MAX_STOP_SEQUENCES or any(not s or len(s) > MAX_STOP_CHARS for s in stop):
        raise InvalidInput(
            f"stop takes at most {MAX_STOP_SEQUENCES} sequences of 1 to {MAX_STOP_CHARS} characters"
        )
    return ChatParams(**asdict(asked) | {"max_completion_tokens": reserve, "stop": stop})
