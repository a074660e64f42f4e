"""The hash-chain format: how an entry is hashed, how a batch is hashed and what its signature
covers. These definitions are the contract an independent verifier implements; they are written
out in docs/message-log.md and must never change meaning under the same version tag.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import JWKRegistry

from lgsp.kit.jsonutil import canonical

ENTRY_TAG = "lgsp-log-entry/1"
BATCH_TAG = "lgsp-log-batch/1"
HEAD_VERSION = 1
# The predecessor of the first batch.
GENESIS_HASH = "0" * 64
DIGEST_SIZE = 32
# Algorithms a batch signature may use; "none" and HMAC are never accepted.
SIGNATURE_ALGORITHMS = ["ES256", "ES384", "ES512", "RS256", "PS256", "EdDSA", "Ed25519"]


@dataclass(frozen=True, slots=True)
class EntryRow:
    """One entry as it is hashed: ``at`` already in its canonical text form."""

    id: int
    at: str
    kind: str
    actor: str | None
    agency: str | None
    message_id: str | None
    correlation_key: str | None
    detail: Any
    body_sha256: str | None
    batch_id: int | None


@dataclass(frozen=True, slots=True)
class BatchRow:
    id: int
    first_entry_id: int
    last_entry_id: int
    count: int
    skipped_ids: tuple[int, ...]
    entry_hashes: bytes
    prev_hash: str
    hash: str
    signature: str
    kid: str
    sealed_at: str


def format_at(at: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS.ffffffZ`` in UTC, always six fractional digits."""
    if at.tzinfo is None:
        raise ValueError("naive datetime in the message log")
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def entry_digest(
    entry_id: int,
    at: str,
    kind: str,
    actor: str | None,
    agency: str | None,
    message_id: str | None,
    correlation_key: str | None,
    detail: Any,
    body_sha256: str | None,
) -> bytes:
    """SHA-256 of the canonical JSON array ``[tag, id, at, kind, actor, agency, message_id,
    correlation_key, detail, body_sha256]`` (orjson, sorted keys, no whitespace, UTF-8)."""
    return hashlib.sha256(
        canonical(
            [
                ENTRY_TAG,
                entry_id,
                at,
                kind,
                actor,
                agency,
                message_id,
                correlation_key,
                detail,
                body_sha256,
            ]
        )
    ).digest()


def row_digest(row: EntryRow) -> bytes:
    return entry_digest(
        row.id,
        row.at,
        row.kind,
        row.actor,
        row.agency,
        row.message_id,
        row.correlation_key,
        row.detail,
        row.body_sha256,
    )


def format_skipped(skipped: Iterable[int]) -> str:
    return ",".join(str(i) for i in skipped)


def parse_skipped(text: str | None) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(",")) if text else ()


def batch_hash(
    prev_hash: str,
    first_entry_id: int,
    last_entry_id: int,
    count: int,
    skipped_ids: Sequence[int],
    entry_hashes: bytes,
) -> str:
    """Hex SHA-256 of ``"<tag>:<prev>:<first>:<last>:<count>:<skipped>:"`` (ASCII, decimal
    integers, skipped ids comma-separated) followed by the raw concatenated entry digests."""
    head = (
        f"{BATCH_TAG}:{prev_hash}:{first_entry_id}:{last_entry_id}:{count}:"
        f"{format_skipped(skipped_ids)}:"
    )
    return hashlib.sha256(head.encode("ascii") + entry_hashes).hexdigest()


def expected_ids(first: int, last: int, skipped: Sequence[int]) -> Iterable[int]:
    """The entry ids a batch covers, ascending."""
    if not skipped:
        return range(first, last + 1)
    gone = set(skipped)
    return (i for i in range(first, last + 1) if i not in gone)


def head_payload(
    batch_id: int,
    hash_hex: str,
    prev_hash: str,
    first_entry_id: int,
    last_entry_id: int,
    count: int,
    sealed_at: str,
) -> bytes:
    """The signed batch head: canonical JSON of the batch's identity and hash."""
    return canonical(
        {
            "v": HEAD_VERSION,
            "batch": batch_id,
            "hash": hash_hex,
            "prev": prev_hash,
            "first": first_entry_id,
            "last": last_entry_id,
            "count": count,
            "sealed_at": sealed_at,
        }
    )


def jws_header(compact: str) -> dict[str, Any]:
    """The protected header of a compact JWS, without verifying anything."""
    encoded = compact.split(".", 1)[0]
    try:
        header = orjson.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    except (ValueError, orjson.JSONDecodeError) as exc:
        raise ValueError("malformed JWS header") from exc
    if not isinstance(header, dict):
        raise ValueError("malformed JWS header")
    return header


class KeyResolver:
    """Verifies batch signatures against a JWK Set (RFC 7517), finding keys by ``kid``."""

    def __init__(self, jwks: dict[str, Any]) -> None:
        self._jwks = {k.get("kid"): k for k in jwks.get("keys", []) if isinstance(k, dict)}
        self._keys: dict[str, Any] = {}

    @property
    def kids(self) -> set[str]:
        return {kid for kid in self._jwks if isinstance(kid, str)}

    def verify(self, compact: str) -> tuple[str, bytes]:
        """Check the signature; return (kid, payload). Raises ValueError with the reason."""
        kid = jws_header(compact).get("kid")
        if not isinstance(kid, str) or kid not in self._jwks:
            raise ValueError(f"signed with unknown key {kid!r}")
        key = self._keys.get(kid)
        if key is None:
            try:
                key = JWKRegistry.import_key(self._jwks[kid])
            except (JoseError, ValueError, TypeError) as exc:
                raise ValueError(f"key {kid!r} in the JWKS is unusable: {exc}") from exc
            self._keys[kid] = key
        try:
            obj = jws.deserialize_compact(compact, key, algorithms=SIGNATURE_ALGORITHMS)
        except (JoseError, ValueError) as exc:
            raise ValueError(f"bad signature ({exc.__class__.__name__})") from exc
        return kid, obj.payload
