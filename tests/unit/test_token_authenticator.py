import pytest

from chatservice.entrypoints.auth import TokenAuthenticator

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
