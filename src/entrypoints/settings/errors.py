"""How start-up names a bad setting: one line, with the setting's name and its environment
variable, or the TOML table it sits in; `chatservice serve` prints that line and exits."""

from __future__ import annotations

import re

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


_EXPLANATION = re.compile(r", (?:unable to|got) ")
#: What a table of each kind is called in an error.
_TABLES = {"models": "model", "providers": "provider", "tokens": "token"}


def one_line(error: ErrorDetails) -> str:
    """One line naming the setting (or the model's table) and what is wrong with it."""
    where = [str(part) for part in error["loc"]]
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
