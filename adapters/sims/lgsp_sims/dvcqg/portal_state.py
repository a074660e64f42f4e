"""The simulated portal's memory: accounts, sessions, dossiers with their history, reference
data, injected faults and a call log. Thread-safe: tests read and drive it from other threads
while the server answers."""

from __future__ import annotations

import copy
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, cast

from lgsp_sims.dvcqg.catalogue import AGENCIES, FIELDS, PROCEDURES, procedure_index
from lgsp_sims.dvcqg.codes import PortalCode, is_regression, parse_status
from lgsp_sims.dvcqg.portal_rules import PortalRefusal, check_dossier, check_history_entry

FailKind = Literal["http500", "error_code", "timeout", "refuse"]
FAIL_KINDS: tuple[str, ...] = ("http500", "error_code", "timeout", "refuse")


@dataclass(frozen=True, slots=True)
class Account:
    password: str
    agency_code: str  # the dstcode / madonvi this account acts for


@dataclass(slots=True)
class _Session:
    agency_code: str
    expires_at: float  # time.monotonic()


@dataclass(slots=True)
class _Dossier:
    data: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)  # in the order received


@dataclass(frozen=True, slots=True)
class CallRecord:
    at: datetime
    path: str
    service: str | None
    http_status: int
    error_code: int | None
    fault: str | None  # the injected fault that answered, if any


# The simulator's own demo account (not a real credential); the sample province config uses it.
DEFAULT_USERNAME = "lgsp.h56"
DEFAULT_PASSWORD = "h56-portal-secret"  # noqa: S105 - simulator demo account
DEFAULT_AGENCY = "000.00.00.H56"
DEFAULT_ACCOUNTS = {DEFAULT_USERNAME: Account(DEFAULT_PASSWORD, DEFAULT_AGENCY)}


class PortalState:
    """Everything the simulator knows. Pass one to ``create_app`` to drive it from a test."""

    def __init__(
        self,
        *,
        accounts: dict[str, Account] | None = None,
        session_ttl: float = 1800.0,
        procedures: list[dict[str, str]] | None = None,
        timeout_delay: float = 3.0,
    ) -> None:
        self.accounts = dict(accounts or DEFAULT_ACCOUNTS)
        self.session_ttl = session_ttl
        # How long a "timeout" fault holds the reply before answering normally: the call still
        # takes effect, like a real portal that finishes work after the client gave up.
        self.timeout_delay = timeout_delay
        self.procedures = procedure_index(procedures or PROCEDURES)
        self._lock = threading.RLock()
        self._sessions: dict[str, _Session] = {}
        self._dossiers: dict[str, _Dossier] = {}
        self._calls: list[CallRecord] = []
        self._fail_count = 0
        self._fail_kind: FailKind = "http500"
        self._fail_until = 0.0
        self._fail_service: str | None = None

    # -- test controls -------------------------------------------------------------------
    def fail_next(
        self, n: int, kind: FailKind | str = "http500", *, service: str | None = None
    ) -> None:
        """Answer the next ``n`` portal calls (only calls of ``service`` when given; "auth" is
        the login) with a fault: "http500", "error_code" (a SYSTEM_BUSY reply), "refuse" (an
        INVALID_FIELD reply: the portal refuses the content) or "timeout" (hold the reply
        ``timeout_delay`` seconds, then serve the call)."""
        if kind not in FAIL_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; one of {FAIL_KINDS}")
        with self._lock:
            self._fail_count, self._fail_kind = n, cast(FailKind, kind)
            self._fail_service = service

    def fail_for(self, seconds: float) -> None:
        """Answer every portal call with HTTP 503 for ``seconds``."""
        with self._lock:
            self._fail_until = time.monotonic() + seconds

    def expire_sessions(self) -> None:
        with self._lock:
            self._sessions.clear()

    def reset_faults(self) -> None:
        with self._lock:
            self._fail_count, self._fail_until = 0, 0.0

    def take_fault(self, service: str) -> str | None:
        """The fault this call of ``service`` gets, if any ("http503" during ``fail_for``)."""
        with self._lock:
            if time.monotonic() < self._fail_until:
                return "http503"
            if self._fail_count > 0 and self._fail_service in (None, service):
                self._fail_count -= 1
                return self._fail_kind
            return None

    def controls(self) -> dict[str, Any]:
        with self._lock:
            return {
                "fail_next": self._fail_count,
                "fail_kind": self._fail_kind,
                "fail_service": self._fail_service,
                "failing_for": max(0.0, self._fail_until - time.monotonic()),
                "session_ttl": self.session_ttl,
                "timeout_delay": self.timeout_delay,
                "sessions": len(self._sessions),
            }

    # -- call log ------------------------------------------------------------------------
    def record(
        self,
        path: str,
        service: str | None,
        http_status: int,
        error_code: int | None,
        fault: str | None = None,
    ) -> None:
        entry = CallRecord(datetime.now(UTC), path, service, http_status, error_code, fault)
        with self._lock:
            self._calls.append(entry)

    @property
    def calls(self) -> list[CallRecord]:
        with self._lock:
            return list(self._calls)

    # -- sessions ------------------------------------------------------------------------
    def login(self, username: object, password: object, dstcode: str | None) -> str:
        account = self.accounts.get(username) if isinstance(username, str) else None
        if account is None or not secrets.compare_digest(
            account.password.encode(), str(password).encode()
        ):
            raise PortalRefusal(
                PortalCode.LOGIN_FAILED, "Tên đăng nhập hoặc mật khẩu không chính xác"
            )
        if dstcode != account.agency_code:
            raise PortalRefusal(
                PortalCode.AGENCY_MISMATCH,
                f"Mã đơn vị (dstcode) {dstcode!r} không khớp với tài khoản",
            )
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._sessions[token] = _Session(
                account.agency_code, time.monotonic() + self.session_ttl
            )
        return token

    def check_session(self, token: object, dstcode: str | None, madonvi: object) -> None:
        with self._lock:
            session = self._sessions.get(token) if isinstance(token, str) else None
            if session is not None and session.expires_at <= time.monotonic():
                del self._sessions[str(token)]
                session = None
        if session is None:
            raise PortalRefusal(
                PortalCode.SESSION_INVALID, "Phiên làm việc không hợp lệ hoặc đã hết hạn"
            )
        if dstcode != session.agency_code or madonvi != session.agency_code:
            raise PortalRefusal(
                PortalCode.AGENCY_MISMATCH,
                "Mã đơn vị (dstcode, madonvi) không khớp với phiên làm việc",
            )

    # -- services ------------------------------------------------------------------------
    def lookup(self, ma_ho_so: object) -> dict[str, Any]:
        """TraCuuHoSo: the dossier with its history under QuaTrinhXuLy."""
        if not isinstance(ma_ho_so, str) or not ma_ho_so:
            raise PortalRefusal(PortalCode.MISSING_FIELD, "Thiếu trường bắt buộc MaHoSo")
        view = self.dossier_view(ma_ho_so)
        if view is None:
            raise PortalRefusal(PortalCode.DOSSIER_NOT_FOUND, f"Không tìm thấy hồ sơ {ma_ho_so}")
        return view

    def sync(self, data: object, is_updating: object) -> list[str]:
        """DongBoHoSoMC: create (isUpdating "False") or update ("True") dossiers, all or none."""
        if is_updating not in ("True", "False"):
            raise PortalRefusal(PortalCode.INVALID_FIELD, 'isUpdating phải là "True" hoặc "False"')
        if not isinstance(data, list) or not data:
            raise PortalRefusal(PortalCode.MISSING_FIELD, "Thiếu danh sách hồ sơ (data)")
        checked = [check_dossier(item, self.procedures) for item in data]
        with self._lock:
            for dossier in checked:
                ma = dossier["MaHoSo"]
                stored = self._dossiers.get(ma)
                if is_updating == "False" and stored is not None:
                    raise PortalRefusal(PortalCode.DOSSIER_EXISTS, f"Hồ sơ {ma} đã tồn tại")
                if is_updating == "True":
                    if stored is None:
                        raise PortalRefusal(
                            PortalCode.DOSSIER_NOT_FOUND, f"Không tìm thấy hồ sơ {ma} để cập nhật"
                        )
                    old = parse_status(stored.data["TrangThaiHoSo"])
                    new = parse_status(dossier["TrangThaiHoSo"])
                    assert old is not None and new is not None  # both passed check_dossier
                    if is_regression(old, new):
                        raise PortalRefusal(
                            PortalCode.STATUS_REGRESSION,
                            f"Hồ sơ {ma}: không thể chuyển trạng thái từ {old} về {new}",
                        )
            for dossier in checked:
                stored = self._dossiers.get(dossier["MaHoSo"])
                if stored is None:
                    self._dossiers[dossier["MaHoSo"]] = _Dossier(copy.deepcopy(dossier))
                else:
                    stored.data = copy.deepcopy(dossier)
        return [d["MaHoSo"] for d in checked]

    def append_history(self, data: object) -> int:
        """CapNhatTienDoHoSoMC: append QuaTrinhXuLy entries, all or none. No deduplication:
        the portal keeps what it is sent, so a sender that repeats itself shows."""
        if not isinstance(data, list) or not data:
            raise PortalRefusal(PortalCode.MISSING_FIELD, "Thiếu danh sách quá trình xử lý (data)")
        entries = [check_history_entry(item) for item in data]
        with self._lock:
            for entry in entries:
                if entry["MaHoSo"] not in self._dossiers:
                    raise PortalRefusal(
                        PortalCode.DOSSIER_NOT_FOUND, f"Không tìm thấy hồ sơ {entry['MaHoSo']}"
                    )
            for entry in entries:
                self._dossiers[entry["MaHoSo"]].history.append(copy.deepcopy(entry))
        return len(entries)

    def procedure(self, ma_tthc: object) -> dict[str, Any]:
        if not isinstance(ma_tthc, str) or ma_tthc not in self.procedures:
            raise PortalRefusal(PortalCode.UNKNOWN_PROCEDURE, f"Không tìm thấy thủ tục {ma_tthc!r}")
        return dict(self.procedures[ma_tthc])

    def procedure_list(self, ma_linh_vuc: object = None) -> list[dict[str, Any]]:
        return [
            dict(p) for p in self.procedures.values() if ma_linh_vuc in (None, "", p["MaLinhVuc"])
        ]

    @staticmethod
    def agencies() -> list[dict[str, str]]:
        return [dict(a) for a in AGENCIES]

    @staticmethod
    def fields() -> list[dict[str, str]]:
        return [dict(f) for f in FIELDS]

    # -- views for tests and humans ------------------------------------------------------
    def dossier_view(self, ma_ho_so: str) -> dict[str, Any] | None:
        with self._lock:
            stored = self._dossiers.get(ma_ho_so)
            if stored is None:
                return None
            view = copy.deepcopy(stored.data)
            view["QuaTrinhXuLy"] = copy.deepcopy(stored.history)
            return view

    def history(self, ma_ho_so: str) -> list[dict[str, Any]]:
        view = self.dossier_view(ma_ho_so)
        return [] if view is None else list(view["QuaTrinhXuLy"])

    def dossier_summaries(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {
                    "MaHoSo": ma,
                    "MaTTHC": d.data.get("MaTTHC"),
                    "TrangThaiHoSo": d.data.get("TrangThaiHoSo"),
                    "history_entries": len(d.history),
                }
                for ma, d in sorted(self._dossiers.items())
            ]
