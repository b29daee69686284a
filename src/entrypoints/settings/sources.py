"""Where the settings come from: their defaults, then an optional TOML file, then `CHATSERVICE_*`
environment variables, then the command line. Keys are read from the environment only."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from chatservice.entrypoints.settings.catalogue import Settings
from chatservice.entrypoints.settings.config_tables import KEY_VARIABLES
from chatservice.entrypoints.settings.errors import (
    ENV_PREFIX,
    SettingsError,
    environment_variable,
)
from chatservice.entrypoints.settings.token_tables import TokenTableError, with_token_values

#: The variable that names the TOML file when `--config` does not.
CONFIG_VARIABLE = f"{ENV_PREFIX}CONFIG"
#: Settings that are tables, so only the TOML file can give them.
TOML_ONLY = frozenset({"models", "providers", "tokens"})


def load_settings(
    config_file: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """The settings from `config_file` (else the one `CHATSERVICE_CONFIG` names), `environ`
    (the process's own by default) and `overrides` (the command line's, above all others);
    `SettingsError` names the first bad one."""
    environ = os.environ if environ is None else environ
    config_file = config_file or environ.get(CONFIG_VARIABLE)
    document = _from_toml(Path(config_file)) if config_file else {}
    # Lowest first: the plain OpenAI variable other tools read, the file, our own variables.
    # With provider tables, each reads its key from its own variable (OPENAI_API_KEY included).
    values: dict[str, Any] = {}
    if environ.get("OPENAI_API_KEY") and not document.get("providers"):
        values["openai_api_key"] = environ["OPENAI_API_KEY"]
    values.update(document)
    if isinstance(providers := document.get("providers"), dict):
        values["providers"] = _with_keys(providers, environ)
    if "tokens" in document:
        try:
            values["tokens"] = with_token_values(document["tokens"], environ)
        except TokenTableError as error:
            raise SettingsError(str(error)) from None
    values.update(
        (name, environ[variable])
        for name in Settings.model_fields.keys() - TOML_ONLY
        if (variable := environment_variable(name)) in environ
    )
    values.update(overrides or {})
    return Settings(**values)


def _from_toml(path: Path) -> dict[str, Any]:
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"configuration file {path}: {exc}") from exc
    if unknown := sorted(document.keys() - Settings.model_fields.keys()):
        raise SettingsError(f"configuration file {path}: unknown setting {unknown[0]!r}")
    return document


def _with_keys(providers: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """The `[providers]` tables, each with the key its environment variable holds. A key is
    never read from the file, which is more often shared, copied and committed than the
    environment."""
    keyed = {}
    for name, table in providers.items():
        if not isinstance(table, dict):  # the settings model names the mistake
            keyed[name] = table
            continue
        if "api_key" in table:
            raise SettingsError(
                f"provider {name!r}: api_key is not read from the file; put the key in the "
                "environment variable api_key_env names"
            )
        variable = table.get("api_key_env") or KEY_VARIABLES.get(table.get("kind", ""))
        key = environ.get(variable) if isinstance(variable, str) else None
        keyed[name] = table | ({"api_key": key} if key else {})
    return keyed
