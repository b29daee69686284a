"""How start-up names a bad setting: one line, with the setting's name and its environment
variable, or the TOML table it sits in; `chatservice serve` prints that line and exits."""

from __future__ import annotations

import re
from collections.abc import Mapping

from pydantic_core import ErrorDetails

ENV_PREFIX = "CHATSERVICE_"


class SettingsError(Exception):
    pass


def environment_variable(name: str) -> str:
    """The variable that gives setting `name`."""
    return f"{ENV_PREFIX}{name.upper()}"


def setting_problem(name: str, problem: str) -> str:
    return f"setting {name} (env {environment_variable(name)}) {problem}"


def check(ok: bool, name: str, problem: str) -> None:
    """`SettingsError` naming setting `name` and its `problem`, unless `ok`."""
    if not ok:
        raise SettingsError(setting_problem(name, problem))


def _entry_name(given: Mapping[str, object], place: object) -> str | None:
    """The `name` of the `[[tokens]]` entry at `place`, if it has one."""
    entries = given.get("tokens")
    if not isinstance(place, int) or not isinstance(entries, list | tuple) or place >= len(entries):
        return None
    entry = entries[place]
    name = entry.get("name") if isinstance(entry, dict) else None
    return name if isinstance(name, str) and name else None


_EXPLANATION = re.compile(r", (?:unable to|got) ")
#: What a table of each kind is called in an error.
_TABLES = {"models": "model", "providers": "provider", "tokens": "token"}


def one_line(error: ErrorDetails, given: Mapping[str, object]) -> str:
    """One line naming the setting (or the model's table) and what is wrong with it; `given`,
    the settings as given, names a `[[tokens]]` entry by its `name` rather than its place."""
    where = [str(part) for part in error["loc"]]
    if where[0] == "tokens" and len(where) > 1 and (name := _entry_name(given, error["loc"][1])):
        where[1] = name
    if error["type"] == "missing":
        problem = "is required"
    elif error["type"] == "extra_forbidden":
        problem = "is not a setting"
    elif error["type"] == "value_error":
        problem = str(error["ctx"]["error"])
    else:  # pydantic's "Input should be …" without its explanation, and what was given
        problem = _EXPLANATION.split(error["msg"].replace("Input should be", "must be", 1))[0]
        problem += f", got {error['input']!r}"
    if where[0] in _TABLES and len(where) > 1:
        return " ".join([f"{_TABLES[where[0]]} {where[1]!r}:", *where[2:], problem])
    return setting_problem(where[0], problem)
