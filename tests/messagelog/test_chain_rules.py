"""The published formats of the sealed log, which an auditor's own verifier reimplements: the
entry digest covers every field, timestamps are UTC whatever the server's zone, skipped ids are
written ``5,9,12``, the batch hash is the documented formula; and the batch signatures accept
only the listed asymmetric algorithms, with a clear reason for a malformed one."""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from joserfc import jws
from joserfc.jwk import OctKey

from lgsp.messagelog.chain import (
    BATCH_TAG,
    EntryRow,
    KeyResolver,
    batch_hash,
    expected_ids,
    format_at,
    format_skipped,
    parse_skipped,
    row_digest,
)
from tests.messagelog.conftest import make_signer

ENTRY = EntryRow(
    id=7,
    at="2026-12-02T10:00:00.000000Z",
    kind="message.accepted",
    actor="c_client",
    agency="000.00.01.H56",
    message_id="0b1c",
    correlation_key="HS-1",
    detail={"to": ["000.00.02.H56"]},
    body_sha256="ab" * 32,
    batch_id=None,
)


@pytest.fixture
def vietnam_time() -> Iterator[None]:
    """The server's local zone is Vietnam's (UTC+7), as on a provincial data centre's host."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TZ", "Asia/Ho_Chi_Minh")
        time.tzset()
        yield
    time.tzset()


def test_log_times_are_utc_whatever_the_servers_zone(vietnam_time: None) -> None:
    ict = timezone(timedelta(hours=7))
    assert format_at(datetime(2026, 12, 2, 17, 30, 0, 5, tzinfo=ict)) == (
        "2026-12-02T10:30:00.000005Z"
    )
    assert format_at(datetime(2026, 12, 2, 10, 30, tzinfo=UTC)) == "2026-12-02T10:30:00.000000Z"
    with pytest.raises(ValueError, match=r"^naive datetime in the message log$"):
        format_at(datetime(2026, 12, 2, 10, 30))


@pytest.mark.parametrize(
    "field",
    [
        "id",
        "at",
        "kind",
        "actor",
        "agency",
        "message_id",
        "correlation_key",
        "detail",
        "body_sha256",
    ],
)
def test_every_field_of_an_entry_is_in_its_digest(field: str) -> None:
    value = getattr(ENTRY, field)
    if isinstance(value, int):
        other: object = value + 1
    elif isinstance(value, dict):
        other = {"to": ["000.00.03.H56"]}
    else:
        other = value[:-1] + ("0" if value[-1] != "0" else "1")
    assert row_digest(dataclasses.replace(ENTRY, **{field: other})) != row_digest(ENTRY)
    assert row_digest(dataclasses.replace(ENTRY, batch_id=3)) == row_digest(ENTRY)


def test_skipped_ids_are_written_and_read_as_a_comma_list() -> None:
    assert format_skipped((5, 9, 12)) == "5,9,12"
    assert format_skipped(()) == ""
    assert parse_skipped("5,9,12") == (5, 9, 12)
    assert parse_skipped("5") == (5,)
    assert parse_skipped("") == () and parse_skipped(None) == ()


def test_the_ids_a_batch_covers() -> None:
    assert list(expected_ids(4, 9, (5, 7))) == [4, 6, 8, 9]
    assert list(expected_ids(4, 6, ())) == [4, 5, 6]
    assert list(expected_ids(8, 8, ())) == [8]


@pytest.mark.parametrize("skipped", [(), (5, 7)])
def test_the_batch_hash_is_the_documented_formula(skipped: tuple[int, ...]) -> None:
    digests = hashlib.sha256(b"one").digest() + hashlib.sha256(b"two").digest()
    prev = "0" * 64
    text = f"{BATCH_TAG}:{prev}:4:9:2:{','.join(map(str, skipped))}:"
    expected = hashlib.sha256(text.encode() + digests).hexdigest()
    assert batch_hash(prev, 4, 9, 2, skipped, digests) == expected


def test_a_signature_is_checked_against_the_keys_by_kid() -> None:
    signer = make_signer("k1")
    resolver = KeyResolver(signer.jwks)
    assert resolver.verify(signer.sign(b"head")) == ("k1", b"head")
    assert resolver.verify(signer.sign(b"again")) == ("k1", b"again")  # the key, cached
    with pytest.raises(ValueError, match=r"^signed with unknown key 'k1'$"):
        KeyResolver({}).verify(signer.sign(b"head"))
    with pytest.raises(ValueError, match=r"^bad signature \("):
        resolver.verify(make_signer("k1").sign(b"head"))


@pytest.mark.parametrize(
    "compact",
    ["%%%.payload.sig", "W10.cGF5bG9hZA.c2ln", "bm90IGpzb24.cGF5bG9hZA.c2ln", ""],
    ids=["not base64", "a list", "not JSON", "empty"],
)
def test_a_malformed_header_is_named(compact: str) -> None:
    with pytest.raises(ValueError, match=r"^malformed JWS header$"):
        KeyResolver(make_signer().jwks).verify(compact)


def test_an_unusable_key_in_the_jwks_is_named() -> None:
    signer = make_signer("k1")
    broken = {"keys": [{"kid": "k1", "kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}]}
    with pytest.raises(ValueError, match=r"^key 'k1' in the JWKS is unusable: "):
        KeyResolver(broken).verify(signer.sign(b"head"))


def test_a_symmetric_signature_is_refused_even_with_its_key_listed() -> None:
    """Only the listed asymmetric algorithms: an HMAC key slipped into a JWKS signs nothing."""
    secret = OctKey.import_key(b"s" * 32, {"kid": "k1"})
    forged = jws.serialize_compact({"alg": "HS256", "kid": "k1"}, b"head", secret)
    resolver = KeyResolver({"keys": [secret.as_dict(private=True)]})
    with pytest.raises(ValueError, match=r"^bad signature \("):
        resolver.verify(forged)
