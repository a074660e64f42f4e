"""A stand-in for the National Public Service Portal's (DVCQG) integration API.

It speaks the wire format public integrations use and refuses what the portal refuses (see
:mod:`lgsp_sims.dvcqg.codes` for the error codes and :mod:`lgsp_sims.dvcqg.portal_rules` for the
checks), so an adapter that passes against it has been held to the portal's rules.

Portal API (``prefix`` defaults to ""; every call carries the header ``dstcode: <agency code>``)::

    POST {prefix}/auth          {"username","password"} -> {"session","error_code":0,"message"}
    POST {prefix}/integration   {"session","madonvi","service", ...}
                                -> {"error_code","message","result"}

Services: TraCuuHoSo {MaHoSo} -> dossier with its QuaTrinhXuLy history;
DongBoHoSoMC {isUpdating:"True"|"False", data:[dossier]}; CapNhatTienDoHoSoMC
{data:[QuaTrinhXuLy entry]} (each entry names its MaHoSo); LayThuTuc {MaTTHC};
LayDanhSachTTHC {MaLinhVuc?}; LayDanhMucCoQuan; LayDanhMucLinhVuc.

Simulator-only endpoints (underscore: no real portal has them)::

    GET  {prefix}/_sim/dossiers            summaries of every dossier
    GET  {prefix}/_sim/dossiers/{MaHoSo}   one dossier with its full history, 404 if unknown
    GET  {prefix}/_sim/calls               the call log
    GET  {prefix}/_sim/control             current fault settings
    POST {prefix}/_sim/control             {"fail_next": n, "fail_kind": "http500"|"error_code"|
                                            "timeout"|"refuse", "fail_service":
                                            "auth"|<service> (count only those
                                            calls), "fail_for": seconds,
                                            "expire_sessions": true, "session_ttl": s,
                                            "timeout_delay": s, "reset": true}
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from lgsp_sims.dvcqg.codes import PortalCode
from lgsp_sims.dvcqg.portal_rules import PortalRefusal
from lgsp_sims.dvcqg.portal_state import Account, CallRecord, PortalState

__all__ = ["Account", "PortalState", "create_app"]

SUCCESS_MESSAGE = "Thành công"
BUSY_MESSAGE = "Hệ thống đang bận, vui lòng thử lại sau"
REFUSED_MESSAGE = "Dữ liệu không hợp lệ"

Service = Callable[[PortalState, dict[str, Any]], Any]

SERVICES: dict[str, Service] = {
    "TraCuuHoSo": lambda s, b: s.lookup(b.get("MaHoSo")),
    "DongBoHoSoMC": lambda s, b: [
        {"MaHoSo": ma, "KetQua": SUCCESS_MESSAGE}
        for ma in s.sync(b.get("data"), b.get("isUpdating"))
    ],
    "CapNhatTienDoHoSoMC": lambda s, b: {"SoBanGhi": s.append_history(b.get("data"))},
    "LayThuTuc": lambda s, b: s.procedure(b.get("MaTTHC")),
    "LayDanhSachTTHC": lambda s, b: s.procedure_list(b.get("MaLinhVuc")),
    "LayDanhMucCoQuan": lambda s, b: s.agencies(),
    "LayDanhMucLinhVuc": lambda s, b: s.fields(),
}


def _reply(code: PortalCode, message: str, result: Any = None, status: int = 200) -> JSONResponse:
    return JSONResponse(
        {"error_code": int(code), "message": message, "result": result}, status_code=status
    )


async def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError) as exc:
        raise PortalRefusal(PortalCode.BAD_REQUEST, "Dữ liệu gửi lên không phải JSON") from exc
    if not isinstance(body, dict):
        raise PortalRefusal(PortalCode.BAD_REQUEST, "Dữ liệu gửi lên phải là một đối tượng JSON")
    return body


async def _injected_fault(state: PortalState, path: str, service: str) -> Response | None:
    fault = state.take_fault(service)
    if fault is None:
        return None
    if fault == "timeout":
        await asyncio.sleep(state.timeout_delay)
        return None  # then serve the call: it takes effect although the caller gave up
    if fault == "error_code":
        state.record(path, None, 200, int(PortalCode.SYSTEM_BUSY), fault)
        return _reply(PortalCode.SYSTEM_BUSY, BUSY_MESSAGE)
    if fault == "refuse":
        state.record(path, None, 200, int(PortalCode.INVALID_FIELD), fault)
        return _reply(PortalCode.INVALID_FIELD, REFUSED_MESSAGE)
    status = 503 if fault == "http503" else 500
    state.record(path, None, status, None, fault)
    return PlainTextResponse("<html><body>Service Unavailable</body></html>", status_code=status)


def create_app(state: PortalState | None = None, *, prefix: str = "") -> Starlette:
    """The simulator as an ASGI app; ``app.state.portal`` is its :class:`PortalState`."""
    portal = state or PortalState()
    prefix = prefix.rstrip("/")

    async def auth(request: Request) -> Response:
        path = request.url.path
        if (faulted := await _injected_fault(portal, path, "auth")) is not None:
            return faulted
        try:
            body = await _json_object(request)
            session = portal.login(
                body.get("username"), body.get("password"), request.headers.get("dstcode")
            )
        except PortalRefusal as refusal:
            status = 400 if refusal.code == PortalCode.BAD_REQUEST else 200
            portal.record(path, None, status, int(refusal.code))
            return JSONResponse(
                {"session": None, "error_code": int(refusal.code), "message": refusal.message},
                status_code=status,
            )
        portal.record(path, None, 200, 0)
        return JSONResponse({"session": session, "error_code": 0, "message": SUCCESS_MESSAGE})

    async def integration(request: Request) -> Response:
        path = request.url.path
        service: str | None = None
        try:
            body = await _json_object(request)
            service = body.get("service") if isinstance(body.get("service"), str) else None
            if (faulted := await _injected_fault(portal, path, service or "")) is not None:
                return faulted
            if service is None or "session" not in body:
                raise PortalRefusal(PortalCode.BAD_REQUEST, "Thiếu session hoặc service")
            portal.check_session(
                body["session"], request.headers.get("dstcode"), body.get("madonvi")
            )
            handler = SERVICES.get(service)
            if handler is None:
                raise PortalRefusal(
                    PortalCode.UNKNOWN_SERVICE, f"Dịch vụ {service!r} không tồn tại"
                )
            result = handler(portal, body)
        except PortalRefusal as refusal:
            status = 400 if refusal.code == PortalCode.BAD_REQUEST else 200
            portal.record(path, service, status, int(refusal.code))
            return _reply(refusal.code, refusal.message, status=status)
        portal.record(path, service, 200, 0)
        return _reply(PortalCode.OK, SUCCESS_MESSAGE, result)

    async def list_dossiers(_: Request) -> Response:
        return JSONResponse(portal.dossier_summaries())

    async def get_dossier(request: Request) -> Response:
        view = portal.dossier_view(request.path_params["ma_ho_so"])
        if view is None:
            return JSONResponse({"detail": "no such dossier"}, status_code=404)
        return JSONResponse(view)

    async def list_calls(_: Request) -> Response:
        return JSONResponse([_call_json(c) for c in portal.calls])

    async def control(request: Request) -> Response:
        if request.method == "POST":
            try:
                _apply_control(portal, await request.json())
            except (ValueError, TypeError) as exc:
                return JSONResponse({"detail": str(exc)}, status_code=400)
        return JSONResponse(portal.controls())

    app = Starlette(
        routes=[
            Route(f"{prefix}/auth", auth, methods=["POST"]),
            Route(f"{prefix}/integration", integration, methods=["POST"]),
            Route(f"{prefix}/_sim/dossiers", list_dossiers, methods=["GET"]),
            Route(f"{prefix}/_sim/dossiers/{{ma_ho_so}}", get_dossier, methods=["GET"]),
            Route(f"{prefix}/_sim/calls", list_calls, methods=["GET"]),
            Route(f"{prefix}/_sim/control", control, methods=["GET", "POST"]),
        ]
    )
    app.state.portal = portal
    return app


def _call_json(call: CallRecord) -> dict[str, Any]:
    return {
        "at": call.at.isoformat(),
        "path": call.path,
        "service": call.service,
        "http_status": call.http_status,
        "error_code": call.error_code,
        "fault": call.fault,
    }


_CONTROL_KEYS = frozenset(
    {
        "fail_next",
        "fail_kind",
        "fail_service",
        "fail_for",
        "expire_sessions",
        "session_ttl",
        "timeout_delay",
        "reset",
    }
)


def _apply_control(portal: PortalState, body: Any) -> None:
    if not isinstance(body, dict):
        raise ValueError("control body must be a JSON object")
    unknown = set(body) - _CONTROL_KEYS
    if unknown:
        raise ValueError(f"unknown control keys: {sorted(unknown)}")
    if body.get("reset"):
        portal.reset_faults()
    if "session_ttl" in body:
        portal.session_ttl = float(body["session_ttl"])
    if "timeout_delay" in body:
        portal.timeout_delay = float(body["timeout_delay"])
    if body.get("expire_sessions"):
        portal.expire_sessions()
    if "fail_for" in body:
        portal.fail_for(float(body["fail_for"]))
    if "fail_next" in body:
        service = body.get("fail_service")
        portal.fail_next(
            int(body["fail_next"]),
            str(body.get("fail_kind", "http500")),
            service=str(service) if service else None,
        )
