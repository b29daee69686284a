"""`[providers.NAME]` tables: several providers at once, each model on its own, keys from the
environment; and the one-line refusals of a configuration that could not serve."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from chatservice.domain.prices import Prices
from chatservice.entrypoints.cli import main
from chatservice.entrypoints.settings import Settings, SettingsError, load_settings

TWO_PROVIDERS = """
model = "claude-opus-5-5"

[providers.openai]
kind = "openai"

[providers.anthropic]
kind = "anthropic"
idle_timeout = 30

[providers.local]
kind = "openai"
base_url = "http://127.0.0.1:11434/v1"

[models."llama3.1:8b"]
provider = "local"
context_window = 131072
max_output = 4096

[models."claude-opus-5-5"]
fallbacks = ["gpt-4o", "llama3.1:8b"]
"""
KEYS = {"OPENAI_API_KEY": "sk-openai", "ANTHROPIC_API_KEY": "sk-ant"}


def settings_from(tmp_path: Path, body: str, environ: dict[str, str] | None = None) -> Settings:
    config = tmp_path / "chatservice.toml"
    config.write_text(body)
    return load_settings(config, KEYS if environ is None else environ)


def refusal(tmp_path: Path, body: str, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(SettingsError) as error:
        settings_from(tmp_path, body, environ)
    assert "\n" not in str(error.value)
    return str(error.value)


def test_each_provider_table_reads_its_key_from_its_own_variable(tmp_path: Path) -> None:
    settings = settings_from(tmp_path, TWO_PROVIDERS)
    tables = settings.provider_tables
    assert (tables["openai"].api_key, tables["anthropic"].api_key) == ("sk-openai", "sk-ant")
    assert tables["local"].api_key == "sk-openai"  # an openai table's default variable
    assert tables["anthropic"].idle_timeout == 30
    assert tables["anthropic"].turn_timeout == 110  # the table's default
    assert settings.sole_provider is None


def test_a_key_variable_may_be_named_and_no_key_is_ever_shown(tmp_path: Path) -> None:
    body = 'model = "claude-haiku-5-5"\n[providers.proxy]\nkind = "anthropic"\n'
    body += 'api_key_env = "PROXY_KEY"\n[models.claude-haiku-5-5]\nprovider = "proxy"\n'
    settings = settings_from(tmp_path, body, {"PROXY_KEY": "k-9"})
    assert settings.providers["proxy"].api_key == "k-9"
    assert "k-9" not in repr(settings) and "k-9" not in str(settings)


def test_the_settings_a_worker_reads_keep_the_keys(tmp_path: Path) -> None:
    settings = settings_from(tmp_path, TWO_PROVIDERS)
    assert Settings.model_validate_json(settings.model_dump_json()) == settings


def test_each_model_names_its_provider_and_a_builtin_table_changes_only_what_it_gives(
    tmp_path: Path,
) -> None:
    registry = settings_from(tmp_path, TWO_PROVIDERS).model_registry()
    claude = registry.servable("claude-opus-5-5")
    assert (claude.provider, claude.context_window, claude.max_output) == (
        "anthropic",
        1_000_000,
        128_000,
    )
    assert claude.fallbacks == ("gpt-4o", "llama3.1:8b")
    assert registry.servable("gpt-4o").provider == "openai"
    llama = registry.servable("llama3.1:8b")
    assert (llama.provider, llama.exact_tokenizer) == ("local", False)


def test_a_builtin_model_whose_provider_has_no_table_is_unavailable_not_refused(
    tmp_path: Path,
) -> None:
    registry = settings_from(tmp_path, '[providers.openai]\nkind = "openai"\n').model_registry()
    assert registry.lookup("claude-opus-5-5").provider == "anthropic"
    with pytest.raises(Exception, match="provider 'anthropic', which is not configured"):
        registry.servable("claude-opus-5-5")


@pytest.mark.parametrize(
    ("body", "environ", "problem"),
    [
        (
            '[providers.x]\nkind = "bard"\n',
            KEYS,
            "provider 'x': kind must be 'openai', 'anthropic' or 'fake', got 'bard'",
        ),
        (
            'model = "claude-opus-5-5"\n[providers.anthropic]\nkind = "anthropic"\n',
            {},
            "provider 'anthropic' calls Anthropic's own endpoint, which needs an API key: set "
            "ANTHROPIC_API_KEY",
        ),
        (
            '[providers.openai]\nkind = "openai"\napi_key_env = "MY_KEY"\n',
            KEYS,
            "provider 'openai' calls OpenAI's own endpoint, which needs an API key: set MY_KEY",
        ),
        (
            '[providers.openai]\nkind = "openai"\napi_key = "sk-in-the-file"\n',
            KEYS,
            "provider 'openai': api_key is not read from the file",
        ),
        (
            '[providers.openai]\nkind = "openai"\n[models.mine]\ncontext_window = 8192\n'
            "max_output = 1024\n",
            KEYS,
            "model 'mine': provider is required",
        ),
        (
            '[providers.openai]\nkind = "openai"\n[models.mine]\nprovider = "local"\n'
            "context_window = 8192\nmax_output = 1024\n",
            KEYS,
            "model 'mine' is served by provider 'local', which is not configured",
        ),
        (
            '[providers.anthropic]\nkind = "anthropic"\n',
            KEYS,
            "setting model (env CHATSERVICE_MODEL) cannot serve a chat: model 'gpt-4o-mini' is "
            "served by provider 'openai', which is not configured",
        ),
        (
            '[providers.openai]\nkind = "openai"\n'
            '[models."gpt-4o"]\nfallbacks = ["claude-opus-5"]\n',
            KEYS,
            "model 'gpt-4o': fallback 'claude-opus-5' is served by provider 'anthropic', which is "
            "not configured",
        ),
        (
            '[providers.openai]\nkind = "openai"\n[models."gpt-4o"]\nfallbacks = ["gpt-6"]\n',
            KEYS,
            "model 'gpt-4o': fallback 'gpt-6' is not a registered model",
        ),
        (
            '[providers.openai]\nkind = "openai"\nturn_timeout = 200\n',
            KEYS,
            "provider 'openai': turn_timeout must be shorter than claim_ttl_seconds",
        ),
        (
            '[providers.fake]\nkind = "fake"\nproject = "p"\n',
            KEYS,
            "provider 'fake': organization and project are for kind openai only",
        ),
    ],
)
def test_a_configuration_that_could_not_serve_is_refused_in_one_line(
    tmp_path: Path, body: str, environ: dict[str, str], problem: str
) -> None:
    assert problem in refusal(tmp_path, body, environ)


def test_a_compatible_server_needs_no_key(tmp_path: Path) -> None:
    body = (
        'model = "claude-opus-5-5"\n[providers.anthropic]\nkind = "anthropic"\n'
        'base_url = "http://127.0.0.1:9000"\n'
    )
    assert settings_from(tmp_path, body, {}).providers["anthropic"].api_key is None


def test_the_one_provider_shorthand_and_provider_tables_do_not_mix(tmp_path: Path) -> None:
    body = '[providers.openai]\nkind = "openai"\n'
    environ = KEYS | {"CHATSERVICE_OPENAI_BASE_URL": "http://127.0.0.1:1/v1"}
    assert (
        "setting openai_base_url (env CHATSERVICE_OPENAI_BASE_URL) is the shorthand for one "
        "provider serving every model: with [providers] tables, set it in a provider's table"
    ) in refusal(tmp_path, body, environ)
    assert "setting gateway" in refusal(tmp_path, 'gateway = "openai"\n' + body)


def test_the_shorthand_is_one_provider_that_serves_every_model_claude_included() -> None:
    settings = load_settings(environ={})
    assert list(settings.provider_tables) == ["fake"]
    assert settings.model_registry().servable("claude-opus-5-5").provider == "fake"
    openai = load_settings(environ={"CHATSERVICE_GATEWAY": "openai", "OPENAI_API_KEY": "sk-1"})
    (table,) = openai.provider_tables.values()
    assert (table.kind, table.api_key, table.turn_timeout) == ("openai", "sk-1", 110)
    assert openai.model_registry().servable("claude-haiku-5-5").provider == "openai"


def test_serve_refuses_a_configuration_in_one_line_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    config = tmp_path / "chatservice.toml"
    config.write_text('model = "claude-opus-5-5"\n[providers.anthropic]\nkind = "anthropic"\n')
    assert main(["--config", str(config), "serve"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("chatservice: provider 'anthropic' calls Anthropic's own endpoint")


def test_a_model_of_ones_own_declares_its_prices_and_a_builtin_keeps_its_published_ones(
    tmp_path: Path,
) -> None:
    body = TWO_PROVIDERS.replace(
        "max_output = 4096\n",
        'max_output = 4096\ninput_price = "0.02"\noutput_price = "0.05"\n'
        'cached_input_price = "0.01"\n',
    )
    registry = settings_from(tmp_path, body).model_registry()
    assert registry.servable("llama3.1:8b").prices == Prices(
        Decimal("0.02"), Decimal("0.05"), Decimal("0.01")
    )
    assert registry.servable("claude-opus-5-5").prices == Prices(
        Decimal("4"), Decimal("20"), Decimal("0.20")
    )
    unpriced = settings_from(tmp_path, TWO_PROVIDERS).model_registry()
    assert unpriced.servable("llama3.1:8b").prices == Prices(Decimal(0), Decimal(0))


def test_a_price_finer_than_a_millionth_of_a_dollar_is_refused_at_start_up(
    tmp_path: Path,
) -> None:
    body = TWO_PROVIDERS.replace(
        "max_output = 4096\n", 'max_output = 4096\ninput_price = "0.0000001"\n'
    )
    assert "input_price" in refusal(tmp_path, body)


TOKENS = """
[[tokens]]
name = "acme"
token_env = "ACME_TOKEN"
users = "acme:*"

[[tokens]]
name = "desk"
token_env = "DESK_TOKEN"
users = "*@desk.example"
"""


def test_scoped_tokens_read_their_values_from_the_environment_and_never_show_them(
    tmp_path: Path,
) -> None:
    settings = settings_from(tmp_path, TOKENS, {"ACME_TOKEN": "a-secret", "DESK_TOKEN": "d-secret"})
    assert [(t.name, t.token, t.users) for t in settings.scoped_tokens()] == [
        ("acme", "a-secret", "acme:*"),
        ("desk", "d-secret", "*@desk.example"),
    ]
    assert "a-secret" not in repr(settings)


@pytest.mark.parametrize(
    ("body", "environ", "named"),
    [
        (TOKENS, {"ACME_TOKEN": "a"}, "set DESK_TOKEN"),
        (
            TOKENS.replace('name = "desk"', 'name = "acme"'),
            {"ACME_TOKEN": "a", "DESK_TOKEN": "d"},
            "two",
        ),
        (TOKENS, {"ACME_TOKEN": "same", "DESK_TOKEN": "same"}, "another token's"),
        (
            'auth_tokens = ["a"]\n' + TOKENS,
            {"ACME_TOKEN": "a", "DESK_TOKEN": "d"},
            "another token's",
        ),
        (
            TOKENS.replace('token_env = "ACME_TOKEN"', 'token_env = "ACME_TOKEN"\ntoken = "x"'),
            {},
            "not read from the file",
        ),
        (TOKENS.replace('users = "acme:*"', ""), {"ACME_TOKEN": "a", "DESK_TOKEN": "d"}, "users"),
    ],
)
def test_a_scoped_token_that_cannot_be_used_stops_start_up_in_one_line(
    tmp_path: Path, body: str, environ: dict[str, str], named: str
) -> None:
    assert named in refusal(tmp_path, body, environ)
