"""The wire side of the DVCQG adapter: one HTTP client, one shared login session, and the sorting
of the portal's answers into the adapter error tree.

How the portal's answers become adapter outcomes (codes in :mod:`lgsp_adapters.dvcqg.codes`):

=============================================  ======================================
portal answer                                  outcome
=============================================  ======================================
error_code 0                                   success
-1 session invalid / expired                   log in again once, repeat the call;
                                               still -1 -> RetriableError
-9 system busy                                 RetriableError
-2 login failed, -3 agency code mismatch       RetriableError (the message is not at
                                               fault; logins pause ``login_retry_after``
                                               so a wrong password cannot lock the
                                               account)
-4, -5, 1..6 and any other code                PermanentError with the portal's message
HTTP 408/425/429/5xx, connection failure       RetriableError
timeout                                        UpstreamTimeout
other HTTP 4xx, a reply that is not JSON        PermanentError
a redirect (3xx; never followed), a reply       PermanentError
larger than ``max_reply_bytes``
=============================================  ======================================
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import httpx

from lgsp_adapters.base import (
    AdapterError,
    Capture,
    PermanentError,
    RetriableError,
    UpstreamTimeout,
    classify_http_status,
    truncate,
)
from lgsp_adapters.dvcqg.codes import PortalCode
from lgsp_adapters.rest.http import DEFAULT_MAX_REPLY_BYTES, read_capped

_RETRIABLE_CODES = frozenset(
    {PortalCode.SYSTEM_BUSY, PortalCode.LOGIN_FAILED, PortalCode.AGENCY_MISMATCH}
)


@dataclass(frozen=True, slots=True)
class PortalReply:
    code: int  # error_code
    message: str
    result: Any
    body: dict[str, Any]
    raw: str
    status_code: int


def portal_error(what: str, reply: PortalReply) -> AdapterError:
    """The adapter error for a non-zero error_code."""
    reason = f"the national portal refused {what}: {reply.message} (error_code {reply.code})"
    kind = RetriableError if reply.code in _RETRIABLE_CODES else PermanentError
    return kind(reason, status_code=reply.status_code, reply=reply.raw)


class PortalClient:
    """Thread-safe: one session is shared by every thread and renewed once when it lapses."""

    def __init__(
        self,
        *,
        base_url: str,
        auth_path: str,
        integration_path: str,
        username: str,
        password: str,
        agency_code: str,
        timeout: float,
        login_retry_after: float,
        max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES,
    ) -> None:
        self._auth_path = auth_path
        self._integration_path = integration_path
        self._username = username
        self._password = password
        self._agency_code = agency_code
        self._timeout = timeout
        self._login_retry_after = login_retry_after
        self._max_reply_bytes = max_reply_bytes
        # A redirect would carry the portal password or session to another host: never follow.
        self._http = httpx.Client(
            base_url=base_url,
            timeout=timeout,
            follow_redirects=False,
            headers={"dstcode": agency_code, "Accept": "application/json"},
        )
        self._lock = threading.Lock()
        self._session: str | None = None
        self._login_refused: tuple[float, AdapterError] | None = None

    def close(self) -> None:
        self._http.close()

    def invoke(
        self,
        service: str,
        fields: dict[str, Any],
        captures: list[Capture],
        *,
        accept: Collection[int] = (),
    ) -> PortalReply:
        """Call one integration service. Returns the reply for error_code 0 or a code in
        ``accept``; raises the sorted adapter error otherwise."""
        session = self._current_session(captures)
        reply = self._post(self._integration_path, self._body(session, service, fields), captures)
        if reply.code == PortalCode.SESSION_INVALID:
            session = self._renew_session(session, captures)
            reply = self._post(
                self._integration_path, self._body(session, service, fields), captures
            )
            if reply.code == PortalCode.SESSION_INVALID:
                raise portal_error(f"{service} with a fresh session", reply)
        if reply.code == PortalCode.OK or reply.code in accept:
            return reply
        raise portal_error(service, reply)

    def _body(self, session: str, service: str, fields: dict[str, Any]) -> dict[str, Any]:
        # madonvi: the agency the call is made for (the province's code at the portal)
        return {**fields, "session": session, "madonvi": self._agency_code, "service": service}

    # -- session -------------------------------------------------------------------------
    def _current_session(self, captures: list[Capture]) -> str:
        with self._lock:
            if self._session is None:
                self._session = self._login(captures)
            return self._session

    def _renew_session(self, stale: str, captures: list[Capture]) -> str:
        with self._lock:
            # Another thread may have renewed it while this one waited for the lock.
            if self._session is None or self._session == stale:
                self._session = None
                self._session = self._login(captures)
            return self._session

    def _login(self, captures: list[Capture]) -> str:
        now = time.monotonic()
        if self._login_refused is not None and now < self._login_refused[0]:
            error = self._login_refused[1]
            raise RetriableError(f"{error.reason}; not retrying the login yet", reply=error.reply)
        reply = self._post(
            self._auth_path, {"username": self._username, "password": self._password}, captures
        )
        session = reply.body.get("session")
        if reply.code == PortalCode.OK and isinstance(session, str) and session:
            self._login_refused = None
            return session
        if reply.code == PortalCode.OK:
            raise PermanentError("the national portal's login reply carries no session")
        error = portal_error("the login", reply)
        if reply.code in (PortalCode.LOGIN_FAILED, PortalCode.AGENCY_MISMATCH):
            self._login_refused = (now + self._login_retry_after, error)
        raise error

    # -- HTTP ----------------------------------------------------------------------------
    def _post(self, path: str, body: dict[str, Any], captures: list[Capture]) -> PortalReply:
        captures.append(
            Capture("request", "application/json", truncate(json.dumps(body, ensure_ascii=False)))
        )
        try:
            with self._http.stream("POST", path, json=body) as response:
                content = read_capped(
                    response.iter_bytes(),
                    self._max_reply_bytes,
                    f"the national portal's {path}",
                    status=response.status_code,
                )
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout(
                f"the national portal did not answer {path} within {self._timeout:g}s"
            ) from exc
        except httpx.HTTPError as exc:
            raise RetriableError(f"could not reach the national portal: {exc}") from exc
        raw = content.decode(response.encoding or "utf-8", errors="replace")
        captures.append(
            Capture(
                "response",
                response.headers.get("content-type", "application/json"),
                truncate(raw),
            )
        )
        failure = classify_http_status(response.status_code)
        if failure is not None:
            raise failure(
                f"the national portal answered HTTP {response.status_code} on {path}",
                status_code=response.status_code,
                reply=raw,
            )
        try:
            data = json.loads(content)
            code = int(data["error_code"])
        except (ValueError, TypeError, KeyError) as exc:
            raise PermanentError(
                f"the national portal's reply on {path} is not a portal answer",
                status_code=response.status_code,
                reply=raw,
            ) from exc
        return PortalReply(
            code=code,
            message=str(data.get("message") or ""),
            result=data.get("result"),
            body=data,
            raw=raw,
            status_code=response.status_code,
        )
