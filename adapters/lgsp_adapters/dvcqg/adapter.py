"""The adapter for the National Public Service Portal (Cổng Dịch vụ công quốc gia, DVCQG).

Messages it carries:

``dossier``
    TraCuuHoSo decides create or update, then DongBoHoSoMC with ``data: [dossier]``. A dossier
    update never moves the portal's status back to an earlier stage: if the portal already holds
    a later stage, the update keeps the portal's status.
``dossier-status`` (schemas/dossier-status/1.json)
    TraCuuHoSo for the portal's dossier and history. When the portal already holds a newer
    status (decided by processing time ThoiDiemXuLy, and by processing stage when the times tie
    or are unknown: 4 -> 5 -> 4 is legitimate, so the status code alone cannot say), only the
    history entry is added. Otherwise DongBoHoSoMC updates the status, then CapNhatTienDoHoSoMC
    appends the entry. An entry already in the history (same ThoiDiemXuLy and TrangThai) is
    not sent again, so a redelivered message changes nothing.

Synchronous services (``call``): TraCuuHoSo, LayThuTuc, LayDanhSachTTHC, LayDanhMucCoQuan,
LayDanhMucLinhVuc; the query string and the JSON payload become the request's fields.
"""

from __future__ import annotations

import re
import threading
import zlib
from typing import Any

from pydantic import Field, SecretStr, field_validator

from lgsp_adapters.base import (
    Adapter,
    AdapterConfigError,
    AdapterError,
    AdapterSettings,
    CallRequest,
    CallResult,
    Capture,
    DeliveryResult,
    Envelope,
    PermanentError,
    RetriableError,
    truncate,
)
from lgsp_adapters.dvcqg.client import PortalClient, PortalReply
from lgsp_adapters.dvcqg.codes import PortalCode, is_portal_date, is_regression, parse_status
from lgsp_adapters.rest.http import DEFAULT_MAX_REPLY_BYTES

SYNC_SERVICES = frozenset(
    {"TraCuuHoSo", "LayThuTuc", "LayDanhSachTTHC", "LayDanhMucCoQuan", "LayDanhMucLinhVuc"}
)
# Dossier fields a status update may carry along; an empty value means "unchanged".
STATUS_FIELDS = ("NgayHenTra", "NgayTra", "NgayKetThucXuLy", "NgayTuChoi", "ThongTinTra", "GhiChu")
# Local systems write a procedure code with their agency code appended
# (1.003560.000.00.00.H56); the portal knows only the national part.
_LOCAL_MA_TTHC = re.compile(r"^(\d\.\d{6})\..+$")
_LOCK_STRIPES = 64


class DvcqgSettings(AdapterSettings):
    base_url: str = Field(description="Portal integration base URL, e.g. https://host/api")
    auth_path: str = "/auth"
    integration_path: str = "/integration"
    username: str = Field(min_length=1)
    password: SecretStr
    agency_code: str = Field(
        min_length=1, description="The province's code at the portal: madonvi and dstcode"
    )
    timeout: float | None = Field(default=None, gt=0, description="Overrides the endpoint's")
    login_retry_after: float = Field(
        default=60.0, ge=0, description="Pause after a refused login before trying again"
    )
    max_reply_bytes: int = Field(
        default=DEFAULT_MAX_REPLY_BYTES, ge=1024, description="Larger replies are refused"
    )

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("base_url must be an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("auth_path", "integration_path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("paths start with '/'")
        return value


class DvcqgAdapter(Adapter):
    name = "dvcqg"
    Settings = DvcqgSettings

    def __init__(self, settings: AdapterSettings, *, agency_code: str, timeout: float) -> None:
        super().__init__(settings, agency_code=agency_code, timeout=timeout)
        if not isinstance(settings, DvcqgSettings):
            raise AdapterConfigError("the dvcqg adapter needs DvcqgSettings")
        self.portal = PortalClient(
            base_url=settings.base_url,
            auth_path=settings.auth_path,
            integration_path=settings.integration_path,
            username=settings.username,
            password=settings.password.get_secret_value(),
            agency_code=settings.agency_code,
            timeout=settings.timeout or timeout,
            login_retry_after=settings.login_retry_after,
            max_reply_bytes=settings.max_reply_bytes,
        )
        # Updates of one dossier from this process go one at a time, so two deliveries cannot
        # both read the same history and both append the same entry.
        self._dossier_locks = [threading.Lock() for _ in range(_LOCK_STRIPES)]

    def close(self) -> None:
        self.portal.close()

    # -- asynchronous delivery -----------------------------------------------------------
    def deliver(self, envelope: Envelope) -> DeliveryResult:
        kind = envelope.type.split("/", 1)[0]
        captures: list[Capture] = []
        reply: PortalReply | None
        try:
            if kind == "dossier":
                reply = self._sync_dossier(envelope.payload, captures)
            elif kind == "dossier-status":
                reply = self._sync_status(envelope.payload, captures)
            else:
                raise PermanentError(f"the national portal takes no {envelope.type!r} messages")
        except AdapterError as exc:
            exc.captures = [*captures, *exc.captures]
            raise
        return DeliveryResult(
            status_code=reply.status_code if reply else 200,
            reply=truncate(reply.raw) if reply else "nothing to change on the portal",
            captures=captures,
        )

    def _lock_for(self, ma_ho_so: str) -> threading.Lock:
        return self._dossier_locks[zlib.crc32(ma_ho_so.encode()) % _LOCK_STRIPES]

    def _lookup(self, ma_ho_so: str, captures: list[Capture]) -> dict[str, Any] | None:
        reply = self.portal.invoke(
            "TraCuuHoSo",
            {"MaHoSo": ma_ho_so},
            captures,
            accept=(PortalCode.DOSSIER_NOT_FOUND,),
        )
        if reply.code == PortalCode.DOSSIER_NOT_FOUND:
            return None
        if not isinstance(reply.result, dict):
            raise PermanentError(f"the national portal's TraCuuHoSo for {ma_ho_so} is no dossier")
        return reply.result

    def _sync_dossier(self, payload: dict[str, Any], captures: list[Capture]) -> PortalReply:
        dossier = to_portal_dossier(payload)
        ma_ho_so = _required_text(dossier, "MaHoSo")
        with self._lock_for(ma_ho_so):
            current = self._lookup(ma_ho_so, captures)
            if current is None:
                reply = self.portal.invoke(
                    "DongBoHoSoMC",
                    {"isUpdating": "False", "data": [dossier]},
                    captures,
                    accept=(PortalCode.DOSSIER_EXISTS,),
                )
                if reply.code != PortalCode.DOSSIER_EXISTS:
                    return reply
                # Created by someone else since the lookup: update it instead.
                current = self._lookup(ma_ho_so, captures)
                if current is None:
                    raise RetriableError(f"dossier {ma_ho_so} both exists and does not")
            dossier = keep_later_stage(dossier, current)
            return self.portal.invoke(
                "DongBoHoSoMC", {"isUpdating": "True", "data": [dossier]}, captures
            )

    def _sync_status(self, payload: dict[str, Any], captures: list[Capture]) -> PortalReply | None:
        ma_ho_so = _required_text(payload, "MaHoSo")
        new_status = parse_status(payload.get("TrangThaiHoSo"))
        if new_status is None:
            raise PermanentError(f"TrangThaiHoSo {payload.get('TrangThaiHoSo')!r} is not 1..10")
        entry = _history_entry(payload, ma_ho_so)
        with self._lock_for(ma_ho_so):
            current = self._lookup(ma_ho_so, captures)
            if current is None:
                # The dossier itself may still be on its way (it may come from another system):
                # wait for it rather than dead-letter a good update.
                raise RetriableError(f"dossier {ma_ho_so} is not on the national portal yet")
            history = [h for h in current.get("QuaTrinhXuLy") or [] if isinstance(h, dict)]
            reply: PortalReply | None = None
            if not portal_is_newer(current, history, new_status, entry):
                merged = merged_status(current, payload, new_status)
                if merged != _without_history(current):
                    reply = self.portal.invoke(
                        "DongBoHoSoMC",
                        {"isUpdating": "True", "data": [merged]},
                        captures,
                        # The portal holds a later stage after all: keep it, add the history.
                        accept=(PortalCode.STATUS_REGRESSION,),
                    )
            if entry is not None and not any(same_entry(h, entry) for h in history):
                reply = self.portal.invoke("CapNhatTienDoHoSoMC", {"data": [entry]}, captures)
            return reply

    # -- synchronous services ------------------------------------------------------------
    def call(self, request: CallRequest) -> CallResult:
        service = request.operation.get("service") or request.service
        if service not in SYNC_SERVICES:
            raise PermanentError(
                f"the national portal offers no synchronous service {service!r}; "
                f"one of {sorted(SYNC_SERVICES)}"
            )
        payload = request.payload if request.payload is not None else {}
        if not isinstance(payload, dict):
            raise PermanentError(f"{service} takes a JSON object")
        fields = {**request.query, **payload}
        captures: list[Capture] = []
        try:
            reply = self.portal.invoke(
                service,
                fields,
                captures,
                accept=(PortalCode.DOSSIER_NOT_FOUND, PortalCode.UNKNOWN_PROCEDURE),
            )
        except AdapterError as exc:
            exc.captures = [*captures, *exc.captures]
            raise
        if reply.code != PortalCode.OK:
            body = {"error_code": reply.code, "message": reply.message}
            return CallResult(status_code=404, body=body, captures=captures)
        return CallResult(status_code=200, body=reply.result, captures=captures)


# -- the rules, as plain functions -------------------------------------------------------
def portal_string(value: Any) -> Any:
    """The portal wants every value as a string: numbers and flags become strings, recursively."""
    if isinstance(value, dict):
        return {k: portal_string(v) for k, v in value.items()}
    if isinstance(value, list):
        return [portal_string(v) for v in value]
    if isinstance(value, bool):
        return "True" if value else "False"
    if value is None:
        return ""
    if isinstance(value, int | float):
        return str(value)
    return value


def to_portal_dossier(payload: dict[str, Any]) -> dict[str, Any]:
    dossier: dict[str, Any] = portal_string(_without_history(payload))
    ma_tthc = dossier.get("MaTTHC")
    if isinstance(ma_tthc, str) and (local := _LOCAL_MA_TTHC.match(ma_tthc)):
        dossier["MaTTHC"] = local.group(1)
    return dossier


def keep_later_stage(dossier: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    """A dossier update that would move the portal back a stage keeps the portal's status (and
    the dates that go with it)."""
    old = parse_status(current.get("TrangThaiHoSo"))
    new = parse_status(dossier.get("TrangThaiHoSo"))
    if old is None or new is None or not is_regression(old, new):
        return dossier
    kept = dict(dossier, TrangThaiHoSo=current["TrangThaiHoSo"])
    for key in STATUS_FIELDS:
        if current.get(key) and not kept.get(key):
            kept[key] = current[key]
    return kept


def portal_is_newer(
    current: dict[str, Any],
    history: list[dict[str, Any]],
    new_status: int,
    entry: dict[str, Any] | None,
) -> bool:
    """Whether the portal's status is newer than an update to ``new_status`` described by
    ``entry``: by processing time first, by stage when times tie or are unknown."""
    at = entry.get("ThoiDiemXuLy") if entry else None
    latest = max(
        (h["ThoiDiemXuLy"] for h in history if is_portal_date(h.get("ThoiDiemXuLy"))),
        default=None,
    )
    if is_portal_date(at) and latest is not None and latest != at:
        return bool(latest > at)  # fixed-width yyyyMMddHHmmss: string order is time order
    held = parse_status(current.get("TrangThaiHoSo"))
    return held is not None and is_regression(held, new_status)


def merged_status(
    current: dict[str, Any], payload: dict[str, Any], new_status: int
) -> dict[str, Any]:
    merged = _without_history(current)
    merged["TrangThaiHoSo"] = str(new_status)
    for key in STATUS_FIELDS:
        value = payload.get(key)
        if value not in (None, ""):
            merged[key] = portal_string(value)
    return merged


def same_entry(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return bool(
        a.get("ThoiDiemXuLy") == b.get("ThoiDiemXuLy")
        and str(a.get("TrangThai")) == str(b.get("TrangThai"))
    )


def _history_entry(payload: dict[str, Any], ma_ho_so: str) -> dict[str, Any] | None:
    entry = payload.get("QuaTrinhXuLy")
    if entry is None:
        return None
    if not isinstance(entry, dict):
        raise PermanentError("QuaTrinhXuLy must be one processing history entry (an object)")
    converted: dict[str, Any] = portal_string(entry)
    converted.setdefault("MaHoSo", ma_ho_so)
    return converted


def _without_history(dossier: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in dossier.items() if k != "QuaTrinhXuLy"}


def _required_text(payload: dict[str, Any], key: str) -> str:
    value = payload.get(key)
    if not isinstance(value, str) or not value:
        raise PermanentError(f"the message has no {key}")
    return value
