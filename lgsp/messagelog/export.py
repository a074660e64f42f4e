"""Export of the sealed log as JSON Lines, and its offline verification.

File format (``lgsp-log-export/1``, one JSON object per line, UTF-8):

- line 1, the header: ``{"t": "header", "format", "exported_at", "jwks", "since_batch",
  "anchor_hash", "anchor_last_id"}``; ``anchor_*`` say where the chain starts (genesis for a
  full export, the batch before ``since_batch`` otherwise);
- then for each batch, ascending: ``{"t": "batch", "id", "first", "last", "count", "skipped",
  "prev_hash", "hash", "entry_hashes" (base64 of the concatenated digests), "signature", "kid",
  "sealed_at"}`` followed by its entries ``{"t": "entry", "id", "at", "kind", "actor",
  "agency", "message_id", "correlation_key", "detail", "body_sha256", "batch"}``.

Exports are masked by default (header ``"masked": true``): personal identifiers in ``detail``
are masked, and an entry whose detail masking changed carries ``"masked": true`` and its
``"digest"`` (hex SHA-256 as sealed). Verification checks such an entry's digest against its
batch's signed digests, but cannot check the masked content against it; it says how many
entries it took on their digest. An unmasked export (``lgsp log export --unmask --reason``) is
logged before it is written.

Unsealed entries are not exported: there is nothing to verify them against yet.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy.orm import Session, sessionmaker

from lgsp.kit.errors import BadRequest
from lgsp.kit.timeutil import utcnow
from lgsp.messagelog import repository
from lgsp.messagelog.chain import (
    GENESIS_HASH,
    BatchRow,
    EntryRow,
    KeyResolver,
    format_at,
    row_digest,
)
from lgsp.messagelog.masking import mask_payload
from lgsp.messagelog.verify import EntryDigest, VerifyReport, check_chain, digests_of

EXPORT_FORMAT = "lgsp-log-export/1"


class ExportFormatError(BadRequest):
    """A line of an export cannot be read as the format describes."""

    slug, title = "not-an-export", "Not a log export"


def export_log(
    session_factory: sessionmaker[Session],
    out: Path,
    *,
    jwks: dict[str, Any] | None = None,
    since_batch: int | None = None,
    masked: bool,
) -> tuple[int, int]:
    """Write sealed batches (from ``since_batch`` on, or all) and their entries to ``out``.

    ``jwks`` is the public key set written into the header so the file verifies on its own;
    auditors should still compare it with keys they trust (``verify_export(..., jwks=...)``).
    With ``masked``, personal identifiers are masked (an unmasked export is logged first, by
    the caller: lgsp/messagelog/reading.py).
    Returns (batches, entries) written.
    """
    batches = entries = 0
    with repository.read_snapshot(session_factory) as snap:
        anchor_hash, anchor_last = GENESIS_HASH, 0
        first_batch = 0
        if since_batch is not None and since_batch > 1:
            before = repository.batch_before(snap, since_batch)
            if before is not None:
                anchor_hash, anchor_last = before
            first_batch = since_batch
        header = {
            "t": "header",
            "format": EXPORT_FORMAT,
            "exported_at": format_at(utcnow()),
            "jwks": jwks or {"keys": []},
            "since_batch": since_batch,
            "anchor_hash": anchor_hash,
            "anchor_last_id": anchor_last,
            "masked": masked,
        }
        entry_rows = repository.entries_stream(snap, from_id=anchor_last + 1)
        current = next(entry_rows, None)
        with out.open("wb") as fh:
            fh.write(orjson.dumps(header) + b"\n")
            for batch in repository.batches_stream(snap, from_id=first_batch):
                fh.write(orjson.dumps(_batch_line(batch)) + b"\n")
                batches += 1
                # Every entry up to the batch's last id, sealed or not, so that a damaged live
                # log exports as damaged rather than silently repaired.
                while current is not None and current.id <= batch.last_entry_id:
                    fh.write(orjson.dumps(_entry_line(current, masked)) + b"\n")
                    entries += 1
                    current = next(entry_rows, None)
    return batches, entries


def _batch_line(b: BatchRow) -> dict[str, Any]:
    return {
        "t": "batch",
        "id": b.id,
        "first": b.first_entry_id,
        "last": b.last_entry_id,
        "count": b.count,
        "skipped": list(b.skipped_ids),
        "prev_hash": b.prev_hash,
        "hash": b.hash,
        "entry_hashes": base64.b64encode(b.entry_hashes).decode("ascii"),
        "signature": b.signature,
        "kid": b.kid,
        "sealed_at": b.sealed_at,
    }


def _entry_line(e: EntryRow, masked: bool) -> dict[str, Any]:
    line = {
        "t": "entry",
        "id": e.id,
        "at": e.at,
        "kind": e.kind,
        "actor": e.actor,
        "agency": e.agency,
        "message_id": e.message_id,
        "correlation_key": e.correlation_key,
        "detail": e.detail,
        "body_sha256": e.body_sha256,
        "batch": e.batch_id,
    }
    if masked:
        shown = mask_payload(e.detail)
        if shown != e.detail:
            line.update(detail=shown, masked=True, digest=row_digest(e).hex())
    return line


def _lines(path: Path, kind: str) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open("rb") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise ExportFormatError(f"line {number}: not JSON") from exc
            if not isinstance(obj, dict):
                raise ExportFormatError(f"line {number}: not an object")
            if obj.get("t") == kind:
                yield number, obj


def _read_batches(path: Path) -> Iterator[BatchRow]:
    for number, o in _lines(path, "batch"):
        try:
            yield BatchRow(
                _int(o["id"]),
                _int(o["first"]),
                _int(o["last"]),
                _int(o["count"]),
                tuple(_int(i) for i in o["skipped"]),
                base64.b64decode(o["entry_hashes"], validate=True),
                str(o["prev_hash"]),
                str(o["hash"]),
                str(o["signature"]),
                str(o["kid"]),
                str(o["sealed_at"]),
            )
        except (KeyError, TypeError, ValueError, binascii.Error) as exc:
            raise ExportFormatError(f"line {number}: malformed batch ({exc})") from exc


def _read_digests(path: Path, report: VerifyReport) -> Iterator[EntryDigest]:
    """Entry digests: computed from the entry, or as stated for a masked entry."""
    masked = 0
    for number, o in _lines(path, "entry"):
        if o.get("masked") is True:
            try:
                digest = bytes.fromhex(str(o["digest"]))
                yield _int(o["id"]), None if o["batch"] is None else _int(o["batch"]), digest
            except (KeyError, TypeError, ValueError) as exc:
                raise ExportFormatError(f"line {number}: malformed masked entry ({exc})") from exc
            masked += 1
            continue
        yield from digests_of([_entry_row(number, o)])
    if masked:
        report.notes.append(
            f"{masked} masked entries checked by their sealed digests only (their masked "
            "content cannot be checked against them)"
        )


def _entry_row(number: int, o: dict[str, Any]) -> EntryRow:
    try:
        return EntryRow(
            _int(o["id"]),
            str(o["at"]),
            str(o["kind"]),
            o["actor"],
            o["agency"],
            o["message_id"],
            o["correlation_key"],
            o["detail"],
            o["body_sha256"],
            None if o["batch"] is None else _int(o["batch"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ExportFormatError(f"line {number}: malformed entry ({exc})") from exc


def _int(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"expected an integer, got {value!r}")
    return value


def verify_export(path: Path, *, jwks: dict[str, Any] | None = None) -> VerifyReport:
    """Verify an export with nothing but the file.

    With ``jwks`` (keys the auditor trusts, obtained separately) signatures are checked against
    those keys only, and keys in the file's header that are not among them are noted; without
    it, the header's keys are used, which proves integrity but not who signed.
    """
    report = VerifyReport()
    try:
        header = next((o for _, o in _lines(path, "header")), None)
        if header is None or header.get("format") != EXPORT_FORMAT:
            report.fail(f"not an {EXPORT_FORMAT} file (no header line)")
            return report
        embedded = header.get("jwks") or {"keys": []}
        if jwks is None:
            report.notes.append("signatures checked against the keys in the file itself")
            keys = KeyResolver(embedded)
        else:
            keys = KeyResolver(jwks)
            foreign = KeyResolver(embedded).kids - keys.kids
            if foreign:
                report.notes.append(f"file header lists untrusted keys: {sorted(foreign)}")
        anchor = str(header.get("anchor_hash") or GENESIS_HASH)
        anchor_last = _int(header.get("anchor_last_id") or 0)
        if anchor != GENESIS_HASH:
            report.notes.append(
                f"partial export: chain starts after entry {anchor_last} at {anchor}; "
                "compare with the previous export's head"
            )
        check_chain(
            _read_batches(path),
            _read_digests(path, report),
            keys,
            anchor_hash=anchor,
            anchor_last_id=anchor_last,
            report=report,
        )
    except ExportFormatError as exc:
        report.fail(f"malformed export: {exc}")
    return report


__all__ = ["EXPORT_FORMAT", "ExportFormatError", "export_log", "verify_export"]
