"""The accounting of `InMemoryChatRepository`, as `sqlalchemy/usage.py` and `sqlalchemy/budgets.py`
keep it in SQL: the usage ledger (every model call whose outcome the repository stored) and the
budget reserves of running turns, claimed against what the ledger holds.

Neither has a lock of its own: the repository calls them under its lock, in the same step as the
change to its chats that goes with them (a turn's commit records its call and drops its reserve).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime

from chatservice.domain.budgets import Account, AccountKind, BudgetClaim, Spend
from chatservice.domain.prices import ZERO
from chatservice.domain.usage import GroupBy, PaidCall, UsageFigures, UsageGroup


@dataclass(frozen=True)
class _LedgerEntry:
    """A row of the usage ledger: the call, and whose chat it was made for."""

    user_id: str
    chat_id: str
    call: PaidCall


class UsageLedger:
    def __init__(self) -> None:
        self._entries: list[_LedgerEntry] = []

    def record(self, user_id: str, chat_id: str, call: PaidCall) -> None:
        self._entries.append(_LedgerEntry(user_id, chat_id, call))

    def delete_user_calls(self, user_id: str, limit: int) -> int:
        """Remove up to `limit` of the user's calls; how many went."""
        kept: list[_LedgerEntry] = []
        gone = 0
        for entry in self._entries:
            if entry.user_id == user_id and gone < limit:
                gone += 1
            else:
                kept.append(entry)
        self._entries = kept
        return gone

    def report(
        self, user_id: str, first_day: date, last_day: date, group_by: GroupBy
    ) -> list[UsageGroup]:
        """The user's calls of those days, summed per group, ordered by group."""
        groups: dict[str, UsageFigures] = {}
        for entry in self._entries:
            call = entry.call
            if entry.user_id != user_id or not first_day <= call.day <= last_day:
                continue
            key = call.day.isoformat() if group_by is GroupBy.DAY else call.model
            groups[key] = groups.get(key, UsageFigures()) + UsageFigures.of(call.usage)
        return [UsageGroup(key, groups[key]) for key in sorted(groups)]

    def used(self, account: Account, claim: BudgetClaim) -> Spend:
        """The calls of `account` in the claim's periods: tokens of the day, USD of the month."""
        if account.kind is AccountKind.USER:
            calls = [e.call for e in self._entries if e.user_id == account.name]
        else:
            calls = [e.call for e in self._entries if account.name in e.call.charged_to]
        return Spend(
            sum(c.tokens for c in calls if c.day >= claim.day),
            sum((c.usage.cost for c in calls if c.day >= claim.month), ZERO),
        )


class BudgetReserves:
    def __init__(self, ledger: UsageLedger) -> None:
        self._ledger = ledger
        #: The budget claims of running turns, by chat and idempotency key.
        self._claims: dict[tuple[str, str], BudgetClaim] = {}

    def claim(self, claim: BudgetClaim) -> None:
        """Reserve `claim.reserve` against each of its accounts, or raise the refusal
        (`BudgetExhausted`, reserving nothing) when any of them has reached a limit."""
        spent = {
            account.key: self._ledger.used(account, claim) + self._reserved(account, claim.now)
            for account in claim.accounts
        }
        if refusal := claim.refusal(spent):
            raise refusal
        self._claims = {turn: c for turn, c in self._claims.items() if c.expires_at > claim.now}
        self._claims[(claim.chat_id, claim.idempotency_key)] = claim

    def renew(self, chat_id: str, idempotency_key: str, expires_at: datetime) -> None:
        """Hold the turn's reserves, if it has any, until `expires_at`."""
        turn = (chat_id, idempotency_key)
        if (claim := self._claims.get(turn)) is not None:
            self._claims[turn] = replace(claim, expires_at=expires_at)

    def release(self, chat_id: str, idempotency_key: str) -> None:
        """Drop the turn's reserves, if it has any."""
        self._claims.pop((chat_id, idempotency_key), None)

    def _reserved(self, account: Account, now: datetime) -> Spend:
        running = (
            c.reserve
            for c in self._claims.values()
            if c.expires_at > now and any(a.key == account.key for a in c.accounts)
        )
        return sum(running, Spend())
