"""`[[tokens]]` of the TOML file: scoped tokens, each acting only for the users its glob matches.

A token's value is read at start-up from the environment variable `token_env` names, never from
the file (more often shared, copied and committed than the environment); metrics and logs call
it by its `name`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, StringConstraints

from chatservice.domain.prices import COST_PLACES
from chatservice.domain.tenants import Budget, Tenant, Tenants

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
#: A budget in USD: exact (a TOML float is taken by its decimal text, never rounded through
#: binary), finite, not negative, and no finer than the picodollar costs are kept in.
Usd = Annotated[Decimal, Field(ge=0, allow_inf_nan=False, decimal_places=COST_PLACES)]


@dataclass(frozen=True)
class ScopedToken:
    """A scoped token as the authenticator takes it."""

    name: str
    token: str = field(repr=False)
    users: str


class ScopedTokenTable(BaseModel):
    """One `[[tokens]]` entry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: What metrics and logs call the token.
    name: Name
    #: The environment variable holding the token.
    token_env: Name
    #: A glob on `user_id` (`acme:*`, `*@example.com`): the users the token may act for.
    users: Name
    #: The token, read from `token_env` at start-up. Kept out of `repr`, so no log line shows it.
    token: str = Field(default="", repr=False)
    #: The budgets of everyone the token covers together, whichever token acts for them (the
    #: top-level settings' names; 0: no limit).
    budget_tokens_per_day_per_user: NonNegativeInt = 0
    budget_usd_per_month_per_user: Usd = Decimal(0)


def scoped_tokens(tables: Sequence[ScopedTokenTable]) -> tuple[ScopedToken, ...]:
    """The entries as the authenticator takes them."""
    return tuple(ScopedToken(t.name, t.token, t.users) for t in tables)


def tenants(tables: Sequence[ScopedTokenTable]) -> Tenants:
    """The entries as the usage ledger and budgets take them."""
    return Tenants(
        tuple(
            Tenant(
                t.name,
                t.users,
                Budget(t.budget_tokens_per_day_per_user, t.budget_usd_per_month_per_user),
            )
            for t in tables
        )
    )


class TokenTableError(ValueError):
    """A `[[tokens]]` entry that cannot be used; its message is one line for start-up."""


def with_token_values(tables: object, environ: Mapping[str, str]) -> object:
    """The `[[tokens]]` entries, each with the token its environment variable holds. What is no
    list of tables is left to the settings model to name."""
    if not isinstance(tables, list):
        return tables
    given: list[Any] = []
    for table in tables:
        if not isinstance(table, dict):
            given.append(table)
            continue
        if "token" in table:
            raise TokenTableError(
                f"token {table.get('name')!r}: token is not read from the file; put it in the "
                "environment variable token_env names"
            )
        variable = table.get("token_env")
        value = environ.get(variable, "").strip() if isinstance(variable, str) else ""
        if isinstance(variable, str) and not value:
            raise TokenTableError(
                f"token {table.get('name')!r}: set {variable} (the environment variable its "
                "token_env names) to the token"
            )
        given.append(table | {"token": value})
    return given


def check_distinct(tables: Sequence[ScopedTokenTable], full_tokens: Sequence[str]) -> None:
    """Each scoped token has a name and a value of its own, neither shared with another nor
    with a full token: one value would otherwise stand for two scopes."""
    names = [t.name for t in tables]
    if duplicate := next((n for n in names if names.count(n) > 1), None):
        raise TokenTableError(f"token {duplicate!r}: two [[tokens]] entries have that name")
    values = [t.token for t in tables]
    for table in tables:
        if values.count(table.token) > 1 or table.token in full_tokens:
            raise TokenTableError(
                f"token {table.name!r}: its value is another token's too (a full token's or "
                "another entry's); give each its own"
            )
