"""The model registry: what each model accepts, as data rather than code paths."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field, fields, replace

from chatservice.domain.chat import ChatParams
from chatservice.domain.errors import InvalidInput, shown
from chatservice.domain.prices import FREE, Prices, usd

#: What a model may accept besides its reply budget: every other parameter of a chat.
SAMPLING_PARAMS = frozenset(f.name for f in fields(ChatParams)) - {"max_completion_tokens"}
ENCODINGS = frozenset({"cl100k_base", "o200k_base"})

# A dated snapshot names its family by a date suffix only: OpenAI's `gpt-4o-2024-08-06` and
# `gpt-4-0613`, Anthropic's `claude-opus-4-5-20251101`. A version number is no date: `o1-mini` is
# not `o1`, and `claude-opus-4-5` is not a snapshot of a `claude-opus-4`.
_DATE_SUFFIX = re.compile(r"^(?P<family>.+)-(?:\d{4}-\d{2}-\d{2}|\d{8}|\d{4})$")


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
    #: The name of the configured provider (`[providers.NAME]`) that serves the model.
    provider: str = "openai"
    #: Whether `encoding` is the model's own tokenizer, so that our counts are what the provider
    #: counts; False where it only stands in for a tokenizer nobody can run offline (Claude's,
    #: most OpenAI-compatible servers'), and the window rule calibrates it.
    exact_tokenizer: bool = True
    #: The models a turn moves to, in order, when this one fails before its first text.
    fallbacks: tuple[str, ...] = ()
    #: USD per million tokens; a model of one's own that declares none costs nothing.
    prices: Prices = FREE

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
# Claude (Anthropic's published limits, docs/providers.md says when they were read). The
# Messages API takes no temperature or top_p from the API version the SDK sends, and has no
# penalties: stop sequences are all a chat on Claude may set. Anthropic publishes no offline
# tokenizer, so o200k_base stands in, calibrated by what Anthropic reports. Thinking, adaptive
# on the newer models, is paid out of `max_tokens`: the default reserve leaves it room.
_CLAUDE = {
    "max_tokens_param": "max_tokens",
    "sampling_params": frozenset({"stop"}),
    "provider": "anthropic",
    "exact_tokenizer": False,
}


def _prices(input_: str, output: str, cached_input: str | None = None) -> Prices:
    return Prices(usd(input_), usd(output), None if cached_input is None else usd(cached_input))


# Published prices, USD per million tokens: input, output, cached input (where the provider bills
# cache reads apart). docs/providers.md ("Prices") says when and where they were read.
BUILTIN_PRICES: dict[str, Prices] = {
    "gpt-3.5-turbo": _prices("0.50", "1.50"),
    "gpt-4": _prices("30", "60"),
    "gpt-4-32k": _prices("60", "120"),
    "gpt-4-turbo": _prices("10", "30"),
    "gpt-4o": _prices("2.50", "10", "1.25"),
    "gpt-4o-mini": _prices("0.15", "0.60", "0.075"),
    "gpt-4.1": _prices("2", "8", "0.50"),
    "gpt-4.1-mini": _prices("0.40", "1.60", "0.10"),
    "gpt-4.1-nano": _prices("0.10", "0.40", "0.025"),
    "o1": _prices("15", "60", "7.50"),
    "o3": _prices("2", "8", "0.50"),
    "o4-mini": _prices("1.10", "4.40", "0.275"),
    "gpt-5": _prices("1.25", "10", "0.125"),
    "gpt-5-mini": _prices("0.25", "2", "0.025"),
    "gpt-5-nano": _prices("0.05", "0.40", "0.005"),
    # Claude: the cache-hit price; cache writes are billed by Anthropic above the input price,
    # and counted here as input (the Messages API reports them apart, but we price what the
    # spec of a turn's cost names: cached reads and the rest of the prompt).
    "claude-fable-5-2": _prices("8", "40", "0.20"),
    "claude-fable-5-1": _prices("10", "50", "0.25"),
    "claude-fable-5": _prices("10", "50", "1"),
    "claude-opus-5-5": _prices("4", "20", "0.20"),
    "claude-opus-5": _prices("5", "25", "0.50"),
    "claude-opus-4-8": _prices("5", "25", "0.50"),
    "claude-opus-4-6": _prices("5", "25", "0.50"),
    "claude-opus-4-5": _prices("5", "25", "0.50"),
    "claude-sonnet-5-5": _prices("2", "10", "0.10"),
    "claude-sonnet-5": _prices("2", "10", "0.20"),
    # Haiku 5.5 bills a prompt over 100,000 tokens at five times the rates, on every token.
    "claude-haiku-5-5": Prices(
        usd("0.10"),
        usd("0.50"),
        usd("0.01"),
        long_prompt_threshold=100_000,
        long_prompt=_prices("0.50", "2.50", "0.05"),
    ),
    "claude-haiku-4-5": _prices("1", "5", "0.10"),
}

_LIMITS: tuple[ModelSpec, ...] = (
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
    *_family(
        [
            "claude-fable-5-2",
            "claude-fable-5-1",
            "claude-fable-5",
            "claude-opus-5-5",
            "claude-opus-5",
            "claude-opus-4-8",
            "claude-opus-4-6",
            "claude-sonnet-5-5",
            "claude-sonnet-5",
            "claude-haiku-5-5",
        ],
        1_000_000,
        128_000,
        "o200k_base",
        16_384,
        **_CLAUDE,
    ),
    # Their snapshots, `claude-opus-4-5-20251101` and the like, resolve to these by the date.
    *_family(
        ["claude-opus-4-5", "claude-haiku-4-5"],
        200_000,
        64_000,
        "o200k_base",
        8_192,
        **_CLAUDE,
    ),
)
BUILTIN_MODELS: tuple[ModelSpec, ...] = tuple(
    replace(spec, prices=BUILTIN_PRICES[spec.name]) for spec in _LIMITS
)


class ModelRegistry:
    """Looks a model up by name; a dated snapshot resolves to its family.

    `providers` names the configured providers (None: every provider a model names is); a model
    whose provider is not among them stays known (its tokens can be counted) but cannot serve a
    chat. `sole_provider` is the one provider that serves every model, whatever it names.
    `context_window_override` replaces every model's input limit (handy to watch eviction); it
    never raises a model above what the model takes, since a provider would refuse the prompt.

    Raises `InvalidInput` for a custom model whose provider is not configured, and for fallbacks
    that name an unknown or unservable model, or lead back to where they started.
    """

    def __init__(
        self,
        models: Iterable[ModelSpec] = BUILTIN_MODELS,
        custom: Iterable[ModelSpec] = (),
        context_window_override: int | None = None,
        *,
        providers: Collection[str] | None = None,
        sole_provider: str | None = None,
    ) -> None:
        custom = tuple(custom)
        self._models: dict[str, ModelSpec] = {m.name: m for m in models}
        self._models.update({m.name: m for m in custom})
        if sole_provider is not None:
            self._models = {
                name: replace(spec, provider=sole_provider) for name, spec in self._models.items()
            }
            providers = (sole_provider,)
        self._providers = None if providers is None else frozenset(providers)
        self._override = context_window_override
        for model in custom:
            self._check_served(self._models[model.name], f"model {model.name!r}")
        for name in self._models:
            self._check_fallbacks(name, ())

    def lookup(self, name: str) -> ModelSpec:
        """The model called `name`, whether or not its provider is configured."""
        spec = self._resolve(name)
        if spec is None:
            raise InvalidInput(
                f"unknown model {shown(name)}: list it under [models] in the configuration file"
            )
        return spec

    def servable(self, name: str) -> ModelSpec:
        """The model called `name`, which a configured provider serves; `InvalidInput` if none
        does."""
        spec = self.lookup(name)
        self._check_served(spec, f"model {shown(name)}")
        return spec

    def chain(self, name: str) -> tuple[ModelSpec, ...]:
        """The model called `name`, then its fallbacks in order, each followed by its own: the
        models a turn tries, each once."""
        chain: dict[str, ModelSpec] = {}

        def add(spec: ModelSpec) -> None:
            chain.setdefault(spec.name, spec)
            for fallback in spec.fallbacks:
                if fallback not in chain:
                    add(self.lookup(fallback))

        add(self.servable(name))
        return tuple(chain.values())

    def _resolve(self, name: str) -> ModelSpec | None:
        spec = self._models.get(name)
        if spec is None and (dated := _DATE_SUFFIX.match(name)):
            spec = self._models.get(dated["family"])
        if spec is None:
            return None
        spec = replace(spec, name=name)
        if self._override is not None:
            spec = replace(spec, context_window=min(self._override, spec.context_window))
        return spec

    def _check_served(self, spec: ModelSpec, what: str) -> None:
        if self._providers is not None and spec.provider not in self._providers:
            raise InvalidInput(
                f"{what} is served by provider {spec.provider!r}, which is not configured "
                f"(a [providers.{spec.provider}] table in the configuration file)"
            )

    def _check_fallbacks(self, name: str, path: tuple[str, ...]) -> None:
        """Every fallback reachable from `name` (reached through `path`) is a servable model,
        and none leads back to a model before it."""
        for fallback in self.lookup(name).fallbacks:
            what = f"model {name!r}: fallback {fallback!r}"
            if fallback in (*path, name):
                cycle = " -> ".join((*path, name, fallback))
                raise InvalidInput(f"{what} leads back to where it started ({cycle})")
            spec = self._resolve(fallback)
            if spec is None:
                raise InvalidInput(f"{what} is not a registered model")
            self._check_served(spec, what)
            self._check_fallbacks(fallback, (*path, name))
