"""The budget settings: each user's limits, and a `[[tokens]]` entry's for its users together;
USD kept exactly as written, limits never negative."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from chatservice.domain.tenants import Budget, Tenant
from chatservice.entrypoints.settings import Settings, SettingsError, load_settings

TOKEN_ENV = {"ACME_TOKEN": "acme-secret"}


def test_no_budget_is_set_by_default() -> None:
    settings = Settings()
    assert not settings.user_budget().limited
    assert settings.user_budget() == Budget(0, Decimal(0))


def test_a_usd_budget_in_the_file_is_kept_as_written_not_as_a_float(tmp_path: Path) -> None:
    config = tmp_path / "chat.toml"
    config.write_text(
        "budget_usd_per_month_per_user = 0.1\nbudget_tokens_per_day_per_user = 200000\n"
    )
    budget = load_settings(config, environ={}).user_budget()
    assert budget == Budget(200_000, Decimal("0.1"))
    assert str(budget.usd_per_month) == "0.1"


def test_the_environment_gives_budgets_as_text() -> None:
    environ = {
        "CHATSERVICE_BUDGET_USD_PER_MONTH_PER_USER": "2.50",
        "CHATSERVICE_BUDGET_TOKENS_PER_DAY_PER_USER": "1000",
    }
    assert load_settings(environ=environ).user_budget() == Budget(1000, Decimal("2.50"))


def test_a_tokens_entry_limits_the_users_it_covers_together(tmp_path: Path) -> None:
    config = tmp_path / "chat.toml"
    config.write_text(
        '[[tokens]]\nname = "acme"\ntoken_env = "ACME_TOKEN"\nusers = "acme:*"\n'
        'budget_tokens_per_day_per_user = 5000\nbudget_usd_per_month_per_user = "150.00"\n'
        '[[tokens]]\nname = "free"\ntoken_env = "FREE_TOKEN"\nusers = "free:*"\n'
    )
    tenants = load_settings(config, environ={**TOKEN_ENV, "FREE_TOKEN": "free-secret"}).tenants()
    assert tenants.members == (
        Tenant("acme", "acme:*", Budget(5000, Decimal("150.00"))),
        Tenant("free", "free:*", Budget()),
    )


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("budget_tokens_per_day_per_user", "-1", "greater than or equal to 0"),
        ("budget_usd_per_month_per_user", "-0.01", "greater than or equal to 0"),
        ("budget_usd_per_month_per_user", "nan", "finite number"),
        ("budget_usd_per_month_per_user", "Infinity", "finite number"),
        ("budget_usd_per_month_per_user", "0.0000000000001", "no more than 12 decimal places"),
        ("budget_usd_per_month_per_user", "five", "valid decimal"),
    ],
)
def test_a_bad_budget_stops_start_up_in_one_line_naming_it(
    name: str, value: str, problem: str
) -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings(environ={f"CHATSERVICE_{name.upper()}": value})
    message = str(refused.value)
    assert message.startswith(f"setting {name} (env CHATSERVICE_{name.upper()})")
    assert problem in message
    assert "\n" not in message


def test_a_bad_budget_on_a_tokens_entry_names_the_entry(tmp_path: Path) -> None:
    config = tmp_path / "chat.toml"
    config.write_text(
        '[[tokens]]\nname = "acme"\ntoken_env = "ACME_TOKEN"\nusers = "acme:*"\n'
        "budget_tokens_per_day_per_user = -5\n"
    )
    with pytest.raises(SettingsError) as refused:
        load_settings(config, environ=TOKEN_ENV)
    assert str(refused.value).startswith("token 'acme': budget_tokens_per_day_per_user ")
    assert "greater than or equal to 0" in str(refused.value)
