from decimal import Decimal

from chatservice.domain.tenants import Budget, Tenant, Tenants


def test_a_user_is_covered_by_every_tenant_whose_glob_matches_them_in_order() -> None:
    acme, everyone, other = Tenant("acme", "acme:*"), Tenant("all", "*"), Tenant("b", "b:*")
    tenants = Tenants((acme, everyone, other))
    assert tenants.covering("acme:bob") == (acme, everyone)
    assert tenants.covering("b:ann") == (everyone, other)


def test_globs_match_case_and_whole_ids() -> None:
    acme = Tenant("acme", "acme:*")
    assert not acme.covers("ACME:bob")
    assert not acme.covers("x-acme:bob")
    assert Tenants().covering("acme:bob") == ()


def test_a_budget_limits_only_when_one_of_its_limits_is_set() -> None:
    assert not Budget().limited
    assert Budget(tokens_per_day=1).limited
    assert Budget(usd_per_month=Decimal("0.01")).limited
