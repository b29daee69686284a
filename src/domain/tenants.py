"""Tenants: the scoped tokens as the usage ledger and budgets see them.

A `[[tokens]]` entry covers the users its glob matches. Every model call for a user is charged to
each tenant covering them (the ledger's `usage_charges`), whichever token asked for it, so a
tenant's spend is its users' spend; a tenant's budget caps them together.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from fnmatch import fnmatchcase


def glob_covers(users: str, user_id: str) -> bool:
    """Whether a scoped token's glob on `user_id` (`acme:*`) covers `user_id`: case-sensitive, as
    user ids compare (`Acme:x` is not under `acme:*`). Whom a token may act for and whom its
    budget counts are one set, so the authenticator asks here too."""
    return fnmatchcase(user_id, users)


@dataclass(frozen=True)
class Budget:
    """What may be spent per UTC period; 0 sets no limit. Tokens are prompt + completion."""

    tokens_per_day: int = 0
    usd_per_month: Decimal = Decimal(0)

    @property
    def limited(self) -> bool:
        return self.tokens_per_day > 0 or self.usd_per_month > 0


@dataclass(frozen=True)
class Tenant:
    """A scoped token by its `name` (never its value), the glob on `user_id` it covers, and the
    budget of everyone it covers together."""

    name: str
    users: str
    budget: Budget = field(default_factory=Budget)

    def covers(self, user_id: str) -> bool:
        return glob_covers(self.users, user_id)


@dataclass(frozen=True)
class Tenants:
    """Every tenant the service knows (none when it has no `[[tokens]]`)."""

    members: tuple[Tenant, ...] = ()

    def covering(self, user_id: str) -> tuple[Tenant, ...]:
        """The tenants whose glob covers `user_id`, in the order they are configured."""
        return tuple(t for t in self.members if t.covers(user_id))
