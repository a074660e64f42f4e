"""Client secrets are checked against their stored scrypt hash only: a stored value that is not
a well-formed scrypt hash (a legacy plain value, another scheme, a truncated row) lets no secret
in, not even the right one."""

from __future__ import annotations

import re

import pytest

from lgsp.kit.secrets import hash_secret, new_client_id, new_secret, verify_secret


def test_the_right_secret_verifies_and_a_wrong_one_does_not() -> None:
    secret = new_secret()
    stored = hash_secret(secret)
    assert verify_secret(secret, stored)
    assert not verify_secret(secret + "x", stored)
    assert hash_secret(secret) != stored  # salted


@pytest.mark.parametrize(
    "damage",
    [
        lambda stored, secret: secret,  # stored in clear
        lambda stored, secret: "",
        lambda stored, secret: stored.replace("scrypt$", "sha256$", 1),
        lambda stored, secret: stored.replace("scrypt$", "SCRYPT$", 1),
        lambda stored, secret: stored + "$extra",
        lambda stored, secret: stored.rsplit("$", 1)[0],
    ],
    ids=["clear", "empty", "other scheme", "scheme case", "extra field", "no digest"],
)
def test_a_stored_value_that_is_not_a_scrypt_hash_lets_nothing_in(damage: object) -> None:
    secret = new_secret()
    stored = damage(hash_secret(secret), secret)  # type: ignore[operator]
    assert verify_secret(secret, stored) is False


def test_new_client_ids_and_secrets_are_random_and_distinct() -> None:
    ids = {new_client_id() for _ in range(100)}
    assert len(ids) == 100 and all(re.fullmatch(r"c_[0-9a-f]{24}", i) for i in ids)
    secrets_ = {new_secret() for _ in range(100)}
    assert len(secrets_) == 100 and all(len(s) >= 43 for s in secrets_)  # 256 bits
