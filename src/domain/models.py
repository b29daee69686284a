"""The model registry: what each model accepts, as data rather than code paths."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, fields, replace

from chatservice.domain.chat import ChatParams
from chatservice.domain.errors import InvalidInput, shown

#: What a model may accept besides its reply budget: every other parameter of a chat.
SAMPLING_PARAMS = frozenset(f.name for f in fields(ChatParams)) - {"max_completion_tokens"}
ENCODINGS = frozenset({"cl100k_base", "o200k_base"})

# A dated snapshot names its family by a date suffix only: `gpt-4o-2024-08-06`, `gpt-4-0613`.
_DATE_SUFFIX = re.compile(r"^(?P<family>.+)-(?:\d{4}-\d{2}-\d{2}|\d{4})$")


@dataclass(frozen=True)
class ModelSpec:
    """One model's limits. `context_window` is its input limit, `max_output` its largest reply."""

    name: str
    context_window: int
    max_output: int
    encoding: str
    default_reserve: int
    max_tokens_param: str = "max_completion_tokens"
    sampling_params: frozenset[str] = field(default=SAMPLING_PARAMS)

    def __post_init__(self) -> None:
        problems = []
        if self.context_window <= 0 or self.max_output <= 0:
            problems.append("context_window and max_output must be positive")
        if not 0 < self.default_reserve <= self.max_output:
            problems.append("default_reserve must be between 1 and max_output")
        if self.encoding not in ENCODINGS:
            problems.append(f"encoding must be one of {sorted(ENCODINGS)}")
        if self.max_tokens_param not in ("max_tokens", "max_completion_tokens"):
            problems.append("max_tokens_param must be max_tokens or max_completion_tokens")
        if not self.sampling_params <= SAMPLING_PARAMS:
            problems.append(f"sampling_params must be drawn from {sorted(SAMPLING_PARAMS)}")
        if problems:
            raise InvalidInput(f"model {self.name!r}: " + "; ".join(problems))


def _family(
    names: Iterable[str], window: int, output: int, encoding: str, reserve: int, **extra: object
) -> list[ModelSpec]:
    return [ModelSpec(n, window, output, encoding, reserve, **extra) for n in names]  # type: ignore[arg-type]


_REASONING = {"sampling_params": frozenset({"stop"})}
_NO_STOP_REASONING = {"sampling_params": frozenset[str]()}

BUILTIN_MODELS: tuple[ModelSpec, ...] = (
    *_family(["gpt-3.5-turbo"], 16_385, 4_096, "cl100k_base", 1_024, max_tokens_param="max_tokens"),
    *_family(["gpt-4"], 8_192, 8_192, "cl100k_base", 1_024, max_tokens_param="max_tokens"),
    *_family(["gpt-4-32k"], 32_768, 32_768, "cl100k_base", 4_096, max_tokens_param="max_tokens"),
    *_family(["gpt-4-turbo"], 128_000, 4_096, "cl100k_base", 4_096, max_tokens_param="max_tokens"),
    *_family(["gpt-4o", "gpt-4o-mini"], 128_000, 16_384, "o200k_base", 4_096),
    *_family(["gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano"], 1_047_576, 32_768, "o200k_base", 8_192),
    # Reasoning models spend part of the reply budget thinking; OpenAI advises reserving 25,000.
    *_family(["o1", "o3", "o4-mini"], 200_000, 100_000, "o200k_base", 25_000, **_REASONING),
    *_family(
        ["gpt-5", "gpt-5-mini", "gpt-5-nano"],
        272_000,
        128_000,
        "o200k_base",
        25_000,
        **_NO_STOP_REASONING,
    ),
)


class ModelRegistry:
    """Looks a model up by name; a dated snapshot resolves to its family.

    `context_window_override` replaces every model's input limit (handy to watch eviction); it never
    raises a model above what the model takes, since a provider would refuse the prompt.
    """

    def __init__(
        self,
        models: Iterable[ModelSpec] = BUILTIN_MODELS,
        custom: Iterable[ModelSpec] = (),
        context_window_override: int | None = None,
    ) -> None:
        self._models: dict[str, ModelSpec] = {m.name: m for m in models}
        self._models.update({m.name: m for m in custom})
        self._override = context_window_override

    def lookup(self, name: str) -> ModelSpec:
        spec = self._models.get(name)
        if spec is None and (dated := _DATE_SUFFIX.match(name)):
            spec = self._models.get(dated["family"])
        if spec is None:
            raise InvalidInput(
                f"unknown model {shown(name)}: list it under [models] in the configuration file"
            )
        spec = replace(spec, name=name)
        if self._override is not None:
            spec = replace(spec, context_window=min(self._override, spec.context_window))
        return spec
