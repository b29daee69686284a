"""The import rules that import-linter cannot state (its contracts are in pyproject.toml).

The domain imports only the standard library, and the use cases only that and the domain: an
allowed list, so a library nobody thought to forbid is refused too. A library's private API is
used only inside the one small module that wraps it, where its version pin is explained.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from importlib.util import resolve_name
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The folders that setuptools installs as the `chatservice` package (pyproject.toml).
PACKAGE_FOLDERS = {"chatservice": ROOT / "src", "chatservice.migrations": ROOT / "alembic"}

# The modules that may use a library's private API, each with its reason and pin in its docstring.
PRIVATE_API_MODULES = {
    "chatservice.adapters.sqlalchemy.greenlets",
    "chatservice.entrypoints.http.litestar_internals",
    "chatservice.entrypoints.uvicorn_server",
}


def modules_under(folder: Path, package: str) -> Iterator[tuple[str, str, str]]:
    """(module name, its package, its source) for every module in `folder`, the folder of
    `package`: read from the source files, so that a module the editable install has not linked
    yet is checked too."""
    for path in sorted(folder.rglob("*.py")):
        parts = path.relative_to(folder).with_suffix("").parts
        module = ".".join((package, *parts))
        if parts[-1] == "__init__":
            module = module.removesuffix(".__init__")
            yield module, module, path.read_text()
        else:
            yield module, module.rpartition(".")[0], path.read_text()


def imported_names(source: str, package: str) -> Iterator[tuple[int, str]]:
    """(line, absolute dotted name) of everything `source` imports, wherever in it the import
    stands (functions and `if TYPE_CHECKING:` blocks included); relative imports are resolved
    against `package`, and `from a import b` reads as `a.b`, since `b` may be a module."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            module = resolve_name("." * node.level + (node.module or ""), package)
            for alias in node.names:
                yield node.lineno, module if alias.name == "*" else f"{module}.{alias.name}"


def is_within(name: str, package: str) -> bool:
    return name == package or name.startswith(f"{package}.")


def outside_imports(folder: Path, package: str, allowed: set[str]) -> list[str]:
    """Every import in `folder` of something neither in the standard library nor in `allowed`."""
    return [
        f"{module}, line {line}: {name}"
        for module, module_package, source in modules_under(folder, package)
        for line, name in imported_names(source, module_package)
        if name.partition(".")[0] not in sys.stdlib_module_names
        and not any(is_within(name, allowed_package) for allowed_package in allowed)
    ]


def private_api_uses(folder: Path, package: str) -> list[str]:
    """Every import of a library's `_`-prefixed module or name outside `PRIVATE_API_MODULES`."""
    return [
        f"{module}, line {line}: {name}"
        for module, module_package, source in modules_under(folder, package)
        if module not in PRIVATE_API_MODULES
        for line, name in imported_names(source, module_package)
        if not is_within(name, "chatservice")
        and any(part.startswith("_") and not part.startswith("__") for part in name.split("."))
    ]


DOMAIN = {"chatservice.domain"}
USE_CASES = {"chatservice.domain", "chatservice.application"}


def test_the_domain_imports_only_the_standard_library() -> None:
    breaches = outside_imports(ROOT / "src" / "domain", "chatservice.domain", DOMAIN)
    assert not breaches, "imports beyond the standard library:\n" + "\n".join(breaches)


def test_the_use_cases_import_only_the_standard_library_and_the_domain() -> None:
    folder = ROOT / "src" / "application"
    breaches = outside_imports(folder, "chatservice.application", USE_CASES)
    assert not breaches, "imports beyond the standard library and the domain:\n" + "\n".join(
        breaches
    )


def test_a_private_library_api_is_used_only_behind_the_module_that_wraps_it() -> None:
    uses = [
        use
        for package, folder in PACKAGE_FOLDERS.items()
        for use in private_api_uses(folder, package)
    ]
    assert not uses, "private library APIs outside PRIVATE_API_MODULES:\n" + "\n".join(uses)


@pytest.mark.parametrize(
    "source",
    [
        "import yaml\n",
        "import prometheus_client\n",
        "from yaml import safe_load\n",
        "from sqlalchemy.ext.asyncio import AsyncEngine\n",
        "def load():\n    import yaml\n",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import msgspec\n",
        "from chatservice.adapters.fake_gateway import FakeChatGateway\n",
        "from chatservice import application\n",
        "from ..application import ports\n",
    ],
)
def test_a_module_that_imports_beyond_the_standard_library_breaks_the_domain_rule(
    tmp_path: Path, source: str
) -> None:
    (tmp_path / "__init__.py").write_text("")
    (tmp_path / "rules.py").write_text(f"import asyncio\n{source}")

    breaches = outside_imports(tmp_path, "chatservice.domain", DOMAIN)

    assert len(breaches) == 1
    assert breaches[0].startswith("chatservice.domain.rules, line ")


def test_the_standard_library_and_the_domain_itself_keep_the_domain_rule(tmp_path: Path) -> None:
    (tmp_path / "__init__.py").write_text("from .rules import fits\n")
    (tmp_path / "rules.py").write_text(
        "from __future__ import annotations\nimport asyncio\nfrom collections.abc import Iterator\n"
        "from chatservice.domain.chat import Chat\nfrom . import errors\nfrom .tokens import *\n"
    )

    assert outside_imports(tmp_path, "chatservice.domain", DOMAIN) == []


def test_a_library_imported_into_the_use_cases_breaks_their_rule(tmp_path: Path) -> None:
    (tmp_path / "turns.py").write_text(
        "from chatservice.application.ports import ChatGateway\n"
        "from chatservice.domain.chat import Chat\n"
        "import prometheus_client\n"
    )

    breaches = outside_imports(tmp_path, "chatservice.application", USE_CASES)

    assert breaches == ["chatservice.application.turns, line 3: prometheus_client"]


def test_a_private_library_api_imported_outside_its_wrapper_breaks_the_rule(
    tmp_path: Path,
) -> None:
    (tmp_path / "app.py").write_text(
        "from litestar import Litestar\n"
        "from litestar._openapi.schema_generation.schema import SchemaCreator\n"
        "from chatservice.entrypoints._private import helper\n"
    )

    uses = private_api_uses(tmp_path, "chatservice.entrypoints.http")

    assert uses == [
        "chatservice.entrypoints.http.app, line 2: "
        "litestar._openapi.schema_generation.schema.SchemaCreator"
    ]
