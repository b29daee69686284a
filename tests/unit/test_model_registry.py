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


@pytest.mark.parametrize("name", ["o1-mini", "gpt-4o-latest", "gpt-4o-2024-08", "gpt-6", ""])
def test_a_name_that_is_not_a_dated_snapshot_is_unknown(name: str) -> None:
    with pytest.raises(InvalidInput, match="unknown model"):
        registry.lookup(name)


def test_reasoning_models_accept_no_temperature() -> None:
    assert "temperature" not in registry.lookup("o3").sampling_params
    assert "temperature" in registry.lookup("gpt-4o").sampling_params
    assert registry.lookup("gpt-4").max_tokens_param == "max_tokens"
    assert registry.lookup("gpt-4o").max_tokens_param == "max_completion_tokens"


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
