import pytest

from chatservice.domain.errors import ForbiddenUser
from chatservice.entrypoints.auth import FULL_ACCESS, TokenAuthenticator
from chatservice.entrypoints.settings.token_tables import ScopedToken

auth = TokenAuthenticator(["s3cret", "rotated-ñ"])


@pytest.mark.parametrize(
    "header",
    [
        "s3cret",
        "Bearer s3cret",
        "bearer s3cret",
        "Bearer  s3cret ",
        b"Bearer s3cret",
        "rotated-ñ".encode(),
        b"Bearer rotated-\xc3\xb1",
    ],
)
def test_any_configured_token_is_accepted(header: str | bytes) -> None:
    assert auth.accepts(header)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "s3cret2",
        "s3cre",
        "Basic s3cret",
        "Bearer s3cret x",
        b"\xff\xfe",
        b"rotated-\xf1",
        "S3CRET",
    ],
)
def test_anything_else_is_refused(header: str | bytes | None) -> None:
    assert not auth.accepts(header)


def test_no_configured_token_accepts_nothing() -> None:
    assert not TokenAuthenticator([]).accepts("")


scoped = TokenAuthenticator(
    ["full"], [ScopedToken("acme", "acme-token", "acme:*"), ScopedToken("one", "one-t", "bob")]
)


def test_a_full_token_acts_for_every_user() -> None:
    caller = scoped.caller("Bearer full")
    assert caller == FULL_ACCESS
    assert caller.admits("anyone") and caller.admits("acme:1")


def test_a_scoped_token_acts_only_for_the_users_its_glob_matches() -> None:
    caller = scoped.caller("Bearer acme-token")
    assert caller is not None and caller.name == "acme"
    assert caller.admits("acme:1") and caller.admits("acme:")
    assert not caller.admits("Acme:1")  # user ids compare case by case
    assert not caller.admits("bob")
    assert not caller.admits("xacme:1")


def test_a_user_outside_the_glob_is_forbidden_and_the_error_names_the_token_not_its_value() -> None:
    caller = scoped.caller("one-t")
    assert caller is not None
    caller.check_user("bob")
    with pytest.raises(ForbiddenUser) as refused:
        caller.check_user("bobby")
    assert refused.value.code == "forbidden_user"
    assert "'one'" in refused.value.message and "one-t" not in refused.value.message


def test_an_unknown_token_is_nobodys() -> None:
    assert scoped.caller("Bearer acme") is None
    assert scoped.caller(None) is None
