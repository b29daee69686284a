"""The repository's docs stand alone and agree with the code they describe."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from chatservice.entrypoints.grpc import errors as grpc_errors
from chatservice.entrypoints.http import errors as http_errors
from chatservice.entrypoints.settings import ENV_PREFIX, Settings, load_settings

ROOT = Path(__file__).parents[2]
API = ROOT / "docs" / "api.md"
CONFIGURATION = ROOT / "docs" / "configuration.md"
TOML_ONLY = "none: TOML only"


def setting_defaults() -> dict[str, object]:
    """Every setting of the settings model, with its default."""
    return {
        name: field.get_default(call_default_factory=True)
        for name, field in Settings.model_fields.items()
    }


def documented_settings() -> dict[str, tuple[str, str]]:
    """The rows of docs/configuration.md's table: setting -> (environment variable, default)."""
    rows = {}
    for line in CONFIGURATION.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and (name := re.fullmatch(r"`([a-z0-9_]+)`", cells[0])):
            rows[name.group(1)] = (cells[1], cells[2])
    return rows


def test_every_setting_is_documented_and_nothing_else_is() -> None:
    documented, settings = set(documented_settings()), set(setting_defaults())
    assert sorted(settings - documented) == [], "settings missing from docs/configuration.md"
    assert sorted(documented - settings) == [], "documented, but not settings"


@pytest.mark.parametrize("name", sorted(setting_defaults()))
def test_each_documented_environment_variable_is_the_settings_own(name: str) -> None:
    variable, _ = documented_settings()[name]
    if variable == TOML_ONLY:
        ignored = {f"{ENV_PREFIX}{name.upper()}": "anything"}
        assert load_settings(environ=ignored) == load_settings(environ={})
    else:
        assert variable.split("`")[1] == f"{ENV_PREFIX}{name.upper()}"


@pytest.mark.parametrize(("name", "default"), sorted(setting_defaults().items()))
def test_each_documented_default_is_the_settings_own(name: str, default: object) -> None:
    _, documented = documented_settings()[name]
    if isinstance(default, str):
        assert documented == f"`{default}`"
    elif isinstance(default, int | float) and not isinstance(default, bool):
        assert float(documented.replace(",", "")) == default
    else:  # None or empty: the docs say in words what stands in
        assert documented


def test_every_error_code_a_caller_can_receive_is_in_the_api_doc() -> None:
    # 499 (`client_closed_request`) reaches no one: the caller has gone.
    codes = {kind.code for kind, status in http_errors.STATUS_BY_ERROR.items() if status != 499}
    statuses = {status.name for status in grpc_errors.STATUS_BY_ERROR.values()}
    documented = API.read_text(encoding="utf-8")
    assert sorted(c for c in codes | statuses if f"`{c}`" not in documented) == []


#: Where the repository's own text lives; its docs must not send a reader to files it lacks.
OWN_TEXT = [
    "README.md",
    "docs",
    "src",
    "tests",
    "bench",
    "scripts",
    "alembic",
    "protos",
    "pyproject.toml",
    "Makefile",
    "Dockerfile",
    "docker-compose.yaml",
]
OUTSIDE_DOCUMENTS = re.compile(r"\.\./shared|SPEC §|SPEC\.md")


def own_text_files() -> list[Path]:
    files = []
    for entry in OWN_TEXT:
        path = ROOT / entry
        candidates = path.rglob("*") if path.is_dir() else [path]
        files += [
            f
            for f in candidates
            if f.is_file() and "__pycache__" not in f.parts and f != Path(__file__)
        ]
    return files


def test_readme_docs_and_code_cite_no_document_outside_the_repository() -> None:
    citing = [
        str(path.relative_to(ROOT))
        for path in own_text_files()
        if OUTSIDE_DOCUMENTS.search(path.read_bytes().decode("utf-8", errors="ignore"))
    ]
    assert citing == []
