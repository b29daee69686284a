"""The tables of the TOML file: `[providers.NAME]` (who answers) and `[models.NAME]` (what they
answer with). `Settings` holds them; their defaults are stated here, once."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    NonNegativeInt,
    PositiveFloat,
    model_validator,
)

from chatservice.domain.errors import InvalidInput
from chatservice.domain.models import BUILTIN_MODELS, ModelSpec
from chatservice.domain.prices import Prices
from chatservice.domain.providers import is_anthropic_endpoint, is_openai_endpoint


def _empty_is_unset(value: object) -> object:
    # An empty variable (`CHATSERVICE_OPENAI_BASE_URL=`) leaves an optional setting unset.
    return None if value == "" else value


Unset = BeforeValidator(_empty_is_unset)
OptionalText = Annotated[str | None, Unset]
Retries = Annotated[int, Field(ge=0, le=10)]
T = TypeVar("T")

ProviderKind = Literal["openai", "anthropic", "fake"]
#: The environment variable that holds a provider's key, by kind, unless `api_key_env` names one.
KEY_VARIABLES = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}
#: The company behind each kind's own endpoint, for the error that asks for its key.
_VENDORS = {"openai": "OpenAI", "anthropic": "Anthropic"}


class ProviderTable(BaseModel):
    """A `[providers.NAME]` table: one model provider the service calls, and how."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: ProviderKind
    #: Unset: the vendor's own endpoint; else any server speaking the kind's protocol.
    base_url: OptionalText = None
    #: The environment variable holding the key (`KEY_VARIABLES` by default).
    api_key_env: OptionalText = None
    #: The key, read from `api_key_env` at start-up (never from the file). Kept out of `repr`,
    #: so no log line shows it; it travels to `serve --workers`' workers with the settings.
    api_key: OptionalText = Field(default=None, repr=False)
    #: OpenAI only: passed on when set.
    organization: OptionalText = None
    project: OptionalText = None
    connect_timeout: PositiveFloat = 5.0
    #: The longest pause allowed between two chunks of a stream (and before the first).
    idle_timeout: PositiveFloat = 60.0
    #: The longest a whole turn may take, first byte to last.
    turn_timeout: PositiveFloat = 110.0
    #: Retries of a request that got no response yet (connection errors, 408, 429, 5xx).
    max_retries: Retries = 2
    #: The fake model only: its pause between chunks.
    chunk_delay_ms: NonNegativeInt = 0

    @model_validator(mode="after")
    def _openai_only(self) -> ProviderTable:
        if self.kind != "openai" and (self.organization or self.project):
            raise ValueError("organization and project are for kind openai only")
        return self

    @property
    def key_variable(self) -> str | None:
        return self.api_key_env or KEY_VARIABLES.get(self.kind)

    def missing_key(self) -> str | None:
        """Why this provider cannot start, when it calls its vendor's own endpoint without a key
        (servers that only speak the protocol may need none); None when nothing is missing."""
        vendor_endpoint = (self.kind == "openai" and is_openai_endpoint(self.base_url)) or (
            self.kind == "anthropic" and (not self.base_url or is_anthropic_endpoint(self.base_url))
        )
        if not vendor_endpoint or self.api_key:
            return None
        return (
            f"calls {_VENDORS[self.kind]}'s own endpoint, which needs an API key: set "
            f"{self.key_variable} (or name another variable in api_key_env, or set a base_url)"
        )


def provider_default(name: str) -> Any:  # Any: the default of whichever field is named
    """The default of a `ProviderTable` field, for the one-provider settings that mirror it."""
    return ProviderTable.model_fields[name].default


_BUILTIN = {model.name: model for model in BUILTIN_MODELS}


def is_builtin(model: str) -> bool:
    return model in _BUILTIN


class ModelTable(BaseModel):
    """A `[models.NAME]` table: a model beyond the built-in registry, or what changes of a
    built-in one (its provider, its fallbacks, its limits). Unset fields keep the built-in
    model's values, or take the defaults below for a model of one's own."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The `[providers.NAME]` table that serves the model; required for a model of one's own
    #: when there are `[providers]` tables.
    provider: OptionalText = None
    #: The models a turn moves to, in order, when this one fails before its first text.
    fallbacks: tuple[str, ...] | None = None
    #: Required for a model of one's own.
    context_window: int | None = None
    max_output: int | None = None
    #: o200k_base for a model of one's own.
    encoding: str | None = None
    #: The room kept for the reply by default; min(4096, max_output) for a model of one's own.
    default_reserve: int | None = None
    #: max_tokens for a model of one's own: compatible servers (vLLM, Ollama, …) mostly take it.
    max_tokens_param: str | None = None
    #: All of them for a model of one's own.
    sampling_params: frozenset[str] | None = None
    #: Whether `encoding` is the model's own tokenizer; false for a model of one's own (few
    #: servers' models have theirs in tiktoken).
    exact_tokenizer: bool | None = None
    #: USD per million tokens (quoted, `"0.15"`, to keep TOML's floats out of the money); a model
    #: of one's own costs nothing unless it says. `cached_input_price`: its provider's price of
    #: the prompt tokens read from its cache, where it bills them apart.
    input_price: Decimal | None = None
    output_price: Decimal | None = None
    cached_input_price: Decimal | None = None

    def spec(self, name: str) -> ModelSpec:
        """The model as the registry knows it; `InvalidInput` when the table cannot be one."""
        base = _BUILTIN.get(name) or self._own_model(name)
        max_output = _given(self.max_output, base.max_output)
        return ModelSpec(
            name=name,
            context_window=_given(self.context_window, base.context_window),
            max_output=max_output,
            encoding=_given(self.encoding, base.encoding),
            default_reserve=_given(self.default_reserve, min(base.default_reserve, max_output)),
            max_tokens_param=_given(self.max_tokens_param, base.max_tokens_param),
            sampling_params=_given(self.sampling_params, base.sampling_params),
            provider=_given(self.provider, base.provider),
            exact_tokenizer=_given(self.exact_tokenizer, base.exact_tokenizer),
            fallbacks=_given(self.fallbacks, base.fallbacks),
            prices=self._prices(name, base.prices),
        )

    def _prices(self, name: str, base: Prices) -> Prices:
        """The built-in model's prices, or its own, where the table names any price."""
        given = (self.input_price, self.output_price, self.cached_input_price)
        if given == (None, None, None):
            return base
        try:
            return Prices(
                _given(self.input_price, base.input),
                _given(self.output_price, base.output),
                _given(self.cached_input_price, base.cached_input),
            )
        except InvalidInput as error:
            raise InvalidInput(f"model {name!r}: {error}") from error

    def _own_model(self, name: str) -> ModelSpec:
        """What a model that is not built in is unless its table says otherwise."""
        if self.context_window is None or self.max_output is None:
            missing = "context_window" if self.context_window is None else "max_output"
            raise InvalidInput(f"model {name!r}: {missing} is required for a model not built in")
        return ModelSpec(
            name,
            self.context_window,
            self.max_output,
            "o200k_base",
            min(4096, self.max_output),
            max_tokens_param="max_tokens",
            exact_tokenizer=False,
        )


def _given(value: T | None, otherwise: T) -> T:
    return otherwise if value is None else value
