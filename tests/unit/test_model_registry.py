import pytest

from chatservice.domain.chat import ChatParams
from chatservice.domain.errors import InvalidInput
from chatservice.domain.models import SAMPLING_PARAMS, ModelRegistry, ModelSpec

registry = ModelRegistry()


@pytest.mark.parametrize(
    ("name", "window", "output", "encoding"),
    [
        ("gpt-3.5-turbo", 16_385, 4_096, "cl100k_base"),
        ("gpt-4", 8_192, 8_192, "cl100k_base"),
        ("gpt-4-32k", 32_768, 32_768, "cl100k_base"),
        ("gpt-4-turbo", 128_000, 4_096, "cl100k_base"),
        ("gpt-4o", 128_000, 16_384, "o200k_base"),
        ("gpt-4o-mini", 128_000, 16_384, "o200k_base"),
        ("gpt-4.1", 1_047_576, 32_768, "o200k_base"),
        ("gpt-4.1-mini", 1_047_576, 32_768, "o200k_base"),
        ("gpt-4.1-nano", 1_047_576, 32_768, "o200k_base"),
        ("o1", 200_000, 100_000, "o200k_base"),
        ("o3", 200_000, 100_000, "o200k_base"),
        ("o4-mini", 200_000, 100_000, "o200k_base"),
        ("gpt-5", 272_000, 128_000, "o200k_base"),
        ("gpt-5-mini", 272_000, 128_000, "o200k_base"),
        ("gpt-5-nano", 272_000, 128_000, "o200k_base"),
        ("claude-fable-5-2", 1_000_000, 128_000, "o200k_base"),
        ("claude-fable-5-1", 1_000_000, 128_000, "o200k_base"),
        ("claude-fable-5", 1_000_000, 128_000, "o200k_base"),
        ("claude-opus-5-5", 1_000_000, 128_000, "o200k_base"),
        ("claude-opus-5", 1_000_000, 128_000, "o200k_base"),
        ("claude-opus-4-8", 1_000_000, 128_000, "o200k_base"),
        ("claude-opus-4-6", 1_000_000, 128_000, "o200k_base"),
        ("claude-sonnet-5-5", 1_000_000, 128_000, "o200k_base"),
        ("claude-sonnet-5", 1_000_000, 128_000, "o200k_base"),
        ("claude-haiku-5-5", 1_000_000, 128_000, "o200k_base"),
        ("claude-opus-4-5", 200_000, 64_000, "o200k_base"),
        ("claude-haiku-4-5", 200_000, 64_000, "o200k_base"),
    ],
)
def test_builtin_models_have_the_published_limits(
    name: str, window: int, output: int, encoding: str
) -> None:
    spec = registry.lookup(name)
    assert (spec.context_window, spec.max_output, spec.encoding) == (window, output, encoding)
    assert spec.default_reserve <= spec.max_output


def test_a_dated_snapshot_resolves_to_its_family_and_keeps_its_name() -> None:
    spec = registry.lookup("gpt-4o-2024-08-06")
    assert spec.name == "gpt-4o-2024-08-06"
    assert spec.context_window == 128_000
    assert registry.lookup("gpt-4-0613").encoding == "cl100k_base"


def test_a_claude_snapshot_resolves_to_its_family_by_its_date() -> None:
    spec = registry.lookup("claude-opus-4-5-20251101")
    assert spec.name == "claude-opus-4-5-20251101"
    assert (spec.context_window, spec.max_output, spec.provider) == (200_000, 64_000, "anthropic")
    assert registry.lookup("claude-haiku-4-5-20251001").max_output == 64_000


def test_a_version_number_is_no_date_so_a_family_never_swallows_the_next_version() -> None:
    # claude-opus-4-5 is its own model, not a snapshot of a claude-opus-4 (which is not listed).
    assert registry.lookup("claude-opus-4-5").max_output == 64_000
    assert registry.lookup("claude-opus-5-5").max_output == 128_000
    with pytest.raises(InvalidInput, match="unknown model"):
        registry.lookup("claude-opus-4-20250514")


@pytest.mark.parametrize(
    "name", ["o1-mini", "gpt-4o-latest", "gpt-4o-2024-08", "gpt-6", "claude-opus-5-5-202611", ""]
)
def test_a_name_that_is_not_a_dated_snapshot_is_unknown(name: str) -> None:
    with pytest.raises(InvalidInput, match="unknown model"):
        registry.lookup(name)


def test_reasoning_models_accept_no_temperature() -> None:
    assert "temperature" not in registry.lookup("o3").sampling_params
    assert "temperature" in registry.lookup("gpt-4o").sampling_params
    assert registry.lookup("gpt-4").max_tokens_param == "max_tokens"
    assert registry.lookup("gpt-4o").max_tokens_param == "max_completion_tokens"


def test_claude_models_are_anthropics_take_only_stop_and_count_with_a_stand_in() -> None:
    claude = registry.lookup("claude-sonnet-5-5")
    assert claude.provider == "anthropic"
    assert claude.sampling_params == frozenset({"stop"})
    assert not claude.exact_tokenizer
    assert registry.lookup("gpt-4o").provider == "openai"
    assert registry.lookup("gpt-4o").exact_tokenizer


def test_custom_models_join_the_registry() -> None:
    custom = ModelSpec("llama3", 8_192, 2_048, "cl100k_base", 512, max_tokens_param="max_tokens")
    assert ModelRegistry(custom=[custom]).lookup("llama3") == custom


def test_the_context_window_override_only_lowers_a_window() -> None:
    small = ModelRegistry(context_window_override=500)
    assert small.lookup("gpt-4o").context_window == 500
    assert ModelRegistry(context_window_override=10**9).lookup("gpt-4").context_window == 8_192


def test_a_model_spec_with_impossible_limits_is_refused() -> None:
    with pytest.raises(InvalidInput, match="default_reserve"):
        ModelSpec("x", 1000, 100, "o200k_base", 200)
    with pytest.raises(InvalidInput, match="encoding"):
        ModelSpec("x", 1000, 100, "p50k_base", 50)


def test_a_chats_sampling_holds_what_is_set_zero_included_and_no_empty_stop() -> None:
    assert ChatParams(100).sampling() == {}
    assert ChatParams(100, temperature=0.0, stop=("END",)).sampling() == {
        "temperature": 0.0,
        "stop": ("END",),
    }
    everything = ChatParams(100, 0.5, 0.9, 0.1, -0.1, ("a",)).sampling()
    assert set(everything) == SAMPLING_PARAMS


def test_a_model_whose_provider_is_not_configured_is_known_but_serves_no_chat() -> None:
    openai_only = ModelRegistry(providers={"openai"})
    assert openai_only.lookup("claude-opus-5-5").context_window == 1_000_000
    assert openai_only.servable("gpt-4o").name == "gpt-4o"
    with pytest.raises(InvalidInput, match="provider 'anthropic', which is not configured"):
        openai_only.servable("claude-opus-5-5")


def test_a_sole_provider_serves_every_model_claude_included() -> None:
    sole = ModelRegistry(sole_provider="fake")
    assert sole.servable("claude-opus-5-5").provider == "fake"
    assert sole.servable("gpt-4o").provider == "fake"


def test_a_custom_model_on_a_provider_that_is_not_configured_is_refused() -> None:
    local = ModelSpec("llama3", 8_192, 2_048, "cl100k_base", 512, provider="local")
    with pytest.raises(InvalidInput, match="model 'llama3' is served by provider 'local'"):
        ModelRegistry(custom=[local], providers={"openai"})


def spec(name: str, *fallbacks: str, provider: str = "openai") -> ModelSpec:
    return ModelSpec(name, 8_192, 2_048, "o200k_base", 512, provider=provider, fallbacks=fallbacks)


def test_a_chain_is_the_model_then_its_fallbacks_each_followed_by_its_own_each_once() -> None:
    models = [spec("a", "b", "c"), spec("b", "d"), spec("c", "d"), spec("d")]
    chain = ModelRegistry(models).chain("a")
    assert [m.name for m in chain] == ["a", "b", "d", "c"]
    assert [m.name for m in ModelRegistry(models).chain("d")] == ["d"]


def test_a_snapshot_chains_to_its_familys_fallbacks() -> None:
    custom = [spec("claude-opus-4-5", "gpt-4o", provider="anthropic")]
    chain = ModelRegistry(custom=custom).chain("claude-opus-4-5-20251101")
    assert [m.name for m in chain] == ["claude-opus-4-5-20251101", "gpt-4o"]
    assert chain[0].max_output == 2_048


@pytest.mark.parametrize(
    ("models", "problem"),
    [
        ([spec("a", "nope")], "model 'a': fallback 'nope' is not a registered model"),
        ([spec("a", "a")], r"leads back to where it started \(a -> a\)"),
        ([spec("a", "b"), spec("b", "c"), spec("c", "a")], r"\(a -> b -> c -> a\)"),
        ([spec("a", "claude-opus-5-5")], "provider 'anthropic', which is not configured"),
    ],
)
def test_fallbacks_must_be_servable_models_and_never_lead_back(
    models: list[ModelSpec], problem: str
) -> None:
    with pytest.raises(InvalidInput, match=problem):
        ModelRegistry(custom=models, providers={"openai"})
