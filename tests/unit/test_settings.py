import os
from pathlib import Path

import pytest

from chatservice.entrypoints.settings import Settings, SettingsError, load_settings


def test_defaults_need_no_configuration() -> None:
    settings = load_settings(environ={})
    assert settings == Settings()
    assert settings.database_url == "sqlite+aiosqlite:///./chatservice.db"
    assert settings.gateway == "fake" and settings.model == "gpt-4o-mini"


def test_environment_overrides_the_file_which_overrides_defaults(tmp_path: Path) -> None:
    config = tmp_path / "chat.toml"
    config.write_text('http_port = 9000\nmodel = "gpt-4o"\nauth_tokens = ["a", "b"]\n')
    settings = load_settings(config, {"CHATSERVICE_HTTP_PORT": "9100"})
    assert settings.http_port == 9100
    assert settings.model == "gpt-4o"
    assert settings.auth_tokens == ("a", "b")


def test_the_config_file_may_come_from_the_environment(tmp_path: Path) -> None:
    config = tmp_path / "chat.toml"
    config.write_text("window_margin = 12\n")
    assert load_settings(environ={"CHATSERVICE_CONFIG": str(config)}).window_margin == 12


def test_tokens_are_comma_separated_in_the_environment() -> None:
    settings = load_settings(environ={"CHATSERVICE_AUTH_TOKENS": "one, two ,,"})
    assert settings.auth_tokens == ("one", "two")


def test_the_plain_openai_key_is_a_fallback() -> None:
    assert load_settings(environ={"OPENAI_API_KEY": "k1"}).openai_api_key == "k1"
    both = {"OPENAI_API_KEY": "k1", "CHATSERVICE_OPENAI_API_KEY": "k2"}
    assert load_settings(environ=both).openai_api_key == "k2"


def test_the_file_outranks_the_plain_openai_key(tmp_path: Path) -> None:
    config = tmp_path / "chat.toml"
    config.write_text('openai_api_key = "from-file"\n')
    assert load_settings(config, {"OPENAI_API_KEY": "k1"}).openai_api_key == "from-file"


def test_an_empty_variable_leaves_an_optional_setting_unset() -> None:
    empty = {"CHATSERVICE_OPENAI_BASE_URL": "", "CHATSERVICE_CONTEXT_WINDOW": ""}
    assert load_settings(environ=empty) == Settings()


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("CHATSERVICE_HTTP_PORT", "eighty", "http_port"),
        ("CHATSERVICE_HTTP_PORT", "70000", "http_port"),
        ("CHATSERVICE_GATEWAY", "bard", "gateway"),
        ("CHATSERVICE_CONTEXT_WINDOW", "-5", "context_window"),
        ("CHATSERVICE_DATABASE_URL", "sqlite+aiosqlite:///:memory:", "database_url"),
        ("CHATSERVICE_CLAIM_TTL_SECONDS", "0", "claim_ttl_seconds"),
        ("CHATSERVICE_WORKERS", "0", "workers"),
        ("CHATSERVICE_WORKERS", "many", "workers"),
        ("CHATSERVICE_REDIS_URL", "127.0.0.1:6379", "redis_url"),
    ],
)
def test_a_bad_setting_is_one_line_that_names_it(variable: str, value: str, named: str) -> None:
    with pytest.raises(SettingsError) as error:
        load_settings(environ={variable: value})
    assert named in str(error.value)
    assert "\n" not in str(error.value)


def test_custom_models_are_declared_in_the_file(tmp_path: Path) -> None:
    config = tmp_path / "chat.toml"
    config.write_text(
        '[models."llama3.1:8b"]\ncontext_window = 8192\nmax_output = 2048\n'
        'encoding = "cl100k_base"\n'
    )
    (model,) = load_settings(config, {}).custom_models
    assert (model.name, model.context_window, model.max_output) == ("llama3.1:8b", 8192, 2048)
    assert model.max_tokens_param == "max_tokens"


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("[models.x]\nmax_output = 10\n", "context_window is required"),
        ('[models.x]\ncontext_window = 100\nmax_output = 10\nencoding = "gpt2"\n', "encoding"),
        ("unknown_key = 1\n", "unknown setting"),
        ("[models.x]\ncontext_window = 1\nmax_output = 1\nmax_outputs = 1\n", "max_outputs"),
        ("http_port = [1]\n", "http_port"),
        ("this is not toml", "chat.toml"),
    ],
)
def test_a_bad_config_file_is_refused(tmp_path: Path, body: str, problem: str) -> None:
    config = tmp_path / "chat.toml"
    config.write_text(body)
    with pytest.raises(SettingsError, match=problem):
        load_settings(config, {})


def test_openai_needs_a_key_only_for_its_own_endpoint() -> None:
    with pytest.raises(SettingsError, match="openai_api_key"):
        load_settings(environ={"CHATSERVICE_GATEWAY": "openai"})
    with pytest.raises(SettingsError, match="openai_api_key"):
        load_settings(
            environ={
                "CHATSERVICE_GATEWAY": "openai",
                "CHATSERVICE_OPENAI_BASE_URL": "https://api.openai.com/v1",
            }
        )
    local = {
        "CHATSERVICE_GATEWAY": "openai",
        "CHATSERVICE_OPENAI_BASE_URL": "http://127.0.0.1:8000/v1",
    }
    assert load_settings(environ=local).openai_api_key is None
    keyed = {"CHATSERVICE_GATEWAY": "openai", "OPENAI_API_KEY": "sk-x"}
    assert load_settings(environ=keyed).openai_api_key == "sk-x"


def test_a_turn_may_not_outlive_its_claim() -> None:
    with pytest.raises(SettingsError, match="openai_turn_timeout"):
        load_settings(environ={"CHATSERVICE_OPENAI_TURN_TIMEOUT": "120"})


def test_workers_is_a_number_or_auto_for_one_per_core() -> None:
    assert load_settings(environ={}).worker_count == 1
    assert load_settings(environ={"CHATSERVICE_WORKERS": "3"}).worker_count == 3
    cores = getattr(os, "process_cpu_count", os.cpu_count)()
    assert load_settings(environ={"CHATSERVICE_WORKERS": "auto"}).worker_count == cores


def test_the_command_line_outranks_the_environment() -> None:
    settings = load_settings(environ={"CHATSERVICE_WORKERS": "3"}, overrides={"workers": "2"})
    assert settings.worker_count == 2


def test_the_turn_limit_is_counted_in_redis_only_with_a_redis_and_a_limit() -> None:
    redis = {"CHATSERVICE_REDIS_URL": "redis://127.0.0.1:6379/0"}
    limit = {"CHATSERVICE_TURNS_PER_MINUTE_PER_USER": "5"}
    assert load_settings(environ=redis | limit).turn_limit_store == "redis"
    assert load_settings(environ=redis).turn_limit_store == "process"
    assert load_settings(environ=limit).turn_limit_store == "process"


def test_settings_reach_a_worker_as_they_are(tmp_path: Path) -> None:
    # `serve --workers` hands each worker the supervisor's settings as JSON on its stdin.
    config = tmp_path / "chat.toml"
    config.write_text(
        'auth_tokens = ["a", "b"]\nworkers = "auto"\nredis_url = "redis://127.0.0.1:6379/2"\n'
        '[models."llama3.1:8b"]\ncontext_window = 8192\nmax_output = 2048\n'
        'sampling_params = ["temperature", "top_p"]\n'
    )
    settings = load_settings(config, {"CHATSERVICE_TURNS_PER_MINUTE_PER_USER": "7"})
    assert Settings.model_validate_json(settings.model_dump_json()) == settings
