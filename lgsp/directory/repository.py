"""Reads of the directory (agencies, endpoints, message types, routes, grants, services).

The request path should not query these per request: they change only when an admin applies a
configuration. :class:`DirectoryCache` loads everything in one go into an immutable
:class:`Directory` of plain frozen dataclasses, safe to share between threads, and reloads it when
it is older than its time-to-live. The single-row functions are for admin views and the CLI.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from lgsp.directory.models import Agency, Endpoint, Grant, MessageType, Route, Service
from lgsp.directory.routing import is_granted, resolve_recipients
from lgsp.kit.errors import Unavailable

# --- single reads --------------------------------------------------------------------------


def get_agency(session: Session, code: str) -> Agency | None:
    return session.get(Agency, code)


def list_agencies(session: Session, *, include_inactive: bool = False) -> Sequence[Agency]:
    query = select(Agency).order_by(Agency.code)
    if not include_inactive:
        query = query.where(Agency.active.is_(True))
    return session.scalars(query).all()


def endpoint_for_agency(session: Session, code: str) -> Endpoint | None:
    return session.get(Endpoint, code)


def get_message_type(session: Session, name: str) -> MessageType | None:
    return session.get(MessageType, name)


def routes_for_type(session: Session, message_type: str) -> Sequence[Route]:
    query = select(Route).where(Route.message_type == message_type).order_by(Route.name)
    return session.scalars(query).all()


def grants_for_agency(session: Session, code: str) -> Sequence[Grant]:
    return session.scalars(select(Grant).where(Grant.agency_code == code).order_by(Grant.id)).all()


def get_service(session: Session, provider: str, name: str) -> Service | None:
    return session.get(Service, (provider, name))


def list_services(session: Session) -> Sequence[Service]:
    return session.scalars(select(Service).order_by(Service.provider, Service.name)).all()


# --- the snapshot --------------------------------------------------------------------------
# Dict-valued fields (settings, condition, operation) are private copies; treat them as
# read-only, since the snapshot is shared by every thread.


@dataclass(frozen=True, slots=True)
class EndpointInfo:
    agency_code: str
    mode: Literal["push", "pull"]
    adapter: str | None
    settings: dict[str, Any]
    timeout_seconds: float
    retry_window_seconds: int | None
    concurrency: int


@dataclass(frozen=True, slots=True)
class AgencyInfo:
    code: str
    name_vi: str
    name_en: str
    kind: str
    parent_code: str | None
    active: bool
    endpoint: EndpointInfo | None

    @property
    def delivery(self) -> Literal["push", "pull"] | None:
        """How the agency receives messages; None when it cannot receive."""
        return self.endpoint.mode if self.endpoint else None


@dataclass(frozen=True, slots=True)
class MessageTypeInfo:
    name: str
    schema_id: str
    description: str
    correlation_pointer: str | None
    # "opens" / "acts" on the dossier named at correlation_pointer (lgsp/exchange/parties.py).
    dossier_role: str | None = None


@dataclass(frozen=True, slots=True)
class RouteInfo:
    name: str
    message_type: str
    sender: str | None
    recipient: str
    condition: dict[str, Any] | None
    copy: bool


@dataclass(frozen=True, slots=True)
class GrantInfo:
    agency_code: str
    action: str
    target: str
    recipient: str


@dataclass(frozen=True, slots=True)
class ServiceInfo:
    provider: str
    name: str
    description: str
    operation: dict[str, Any]
    request_schema: str | None
    response_schema: str | None
    timeout_seconds: float | None


@dataclass(frozen=True)
class Directory:
    """The whole directory at one moment. Lookups are dictionary reads; nothing queries."""

    agencies: Mapping[str, AgencyInfo]
    message_types: Mapping[str, MessageTypeInfo]
    routes: tuple[RouteInfo, ...]
    grants: tuple[GrantInfo, ...]
    services: Mapping[tuple[str, str], ServiceInfo]
    # time.monotonic() when it was loaded
    loaded_at: float = 0.0
    _routes_by_type: dict[str, tuple[RouteInfo, ...]] = field(default_factory=dict, repr=False)
    _grants_by_agency: dict[str, tuple[GrantInfo, ...]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        by_type: dict[str, list[RouteInfo]] = {}
        for r in self.routes:
            by_type.setdefault(r.message_type, []).append(r)
        by_agency: dict[str, list[GrantInfo]] = {}
        for g in self.grants:
            by_agency.setdefault(g.agency_code, []).append(g)
        self._routes_by_type.update({k: tuple(v) for k, v in by_type.items()})
        self._grants_by_agency.update({k: tuple(v) for k, v in by_agency.items()})

    def agency(self, code: str) -> AgencyInfo | None:
        return self.agencies.get(code)

    def endpoint(self, agency: str) -> EndpointInfo | None:
        info = self.agencies.get(agency)
        return info.endpoint if info else None

    def message_type(self, name: str) -> MessageTypeInfo | None:
        return self.message_types.get(name)

    def routes_for(self, message_type: str) -> tuple[RouteInfo, ...]:
        return self._routes_by_type.get(message_type, ())

    def grants_for(self, agency: str) -> tuple[GrantInfo, ...]:
        """The agency's own grants, plus any granted to every agency (``*``)."""
        return self._grants_by_agency.get(agency, ()) + self._grants_by_agency.get("*", ())

    def service(self, provider: str, name: str) -> ServiceInfo | None:
        return self.services.get((provider, name))

    def is_granted(self, agency: str, action: str, target: str, recipient: str = "*") -> bool:
        """See :func:`lgsp.directory.routing.is_granted`."""
        return is_granted(
            self.grants_for(agency),
            agency=agency,
            action=action,
            target=target,
            recipient=recipient,
        )

    def recipients(
        self, *, message_type: str, sender: str, to: str | None, payload: Any
    ) -> list[str]:
        """See :func:`lgsp.directory.routing.resolve_recipients`."""
        return resolve_recipients(
            self.routes_for(message_type),
            message_type=message_type,
            sender=sender,
            to=to,
            payload=payload,
        )


def load_directory(session: Session) -> Directory:
    """Everything the request path needs, in six queries."""
    endpoints = {
        e.agency_code: EndpointInfo(
            agency_code=e.agency_code,
            mode="push" if e.mode == "push" else "pull",
            adapter=e.adapter,
            settings=copy.deepcopy(e.settings or {}),
            timeout_seconds=e.timeout_seconds,
            retry_window_seconds=e.retry_window_seconds,
            concurrency=e.concurrency,
        )
        for e in session.scalars(select(Endpoint))
    }
    agencies = {
        a.code: AgencyInfo(
            code=a.code,
            name_vi=a.name_vi,
            name_en=a.name_en,
            kind=a.kind,
            parent_code=a.parent_code,
            active=a.active,
            endpoint=endpoints.get(a.code),
        )
        for a in session.scalars(select(Agency).order_by(Agency.code))
    }
    types = {
        t.name: MessageTypeInfo(
            t.name, t.schema_id, t.description, t.correlation_pointer, t.dossier_role
        )
        for t in session.scalars(select(MessageType).order_by(MessageType.name))
    }
    routes = tuple(
        RouteInfo(
            r.name,
            r.message_type,
            r.sender,
            r.recipient,
            copy.deepcopy(r.condition),
            bool(r.copy),
        )
        for r in session.scalars(select(Route).order_by(Route.name, Route.id))
    )
    grants = tuple(
        GrantInfo(g.agency_code, g.action, g.target, g.recipient)
        for g in session.scalars(select(Grant).order_by(Grant.id))
    )
    services = {
        (s.provider, s.name): ServiceInfo(
            s.provider,
            s.name,
            s.description,
            copy.deepcopy(s.operation or {}),
            s.request_schema,
            s.response_schema,
            s.timeout_seconds,
        )
        for s in session.scalars(select(Service).order_by(Service.provider, Service.name))
    }
    return Directory(agencies, types, routes, grants, services, loaded_at=time.monotonic())


class DirectoryCache:
    """A :class:`Directory` reloaded at most every ``ttl`` seconds, shared by every thread.

    ``snapshot()`` returns the current directory and reloads it first when it is older than
    ``ttl``; one thread reloads while the others wait for the fresh copy. ``refresh()`` forces
    a reload (after ``lgsp config apply`` through the admin API, for instance).
    """

    def __init__(self, session_factory: Callable[[], Session], ttl: float = 5.0) -> None:
        self._session_factory = session_factory
        self.ttl = ttl
        self._lock = threading.Lock()
        self._current: Directory | None = None

    def snapshot(self) -> Directory:
        return self.refresh_if_older_than(self.ttl)

    def refresh_if_older_than(self, seconds: float) -> Directory:
        current = self._current
        if current is not None and time.monotonic() - current.loaded_at < seconds:
            return current
        with self._lock:
            current = self._current  # another thread may have reloaded while we waited
            if current is not None and time.monotonic() - current.loaded_at < seconds:
                return current
            return self._reload()

    def refresh(self) -> Directory:
        with self._lock:
            return self._reload()

    def invalidate(self) -> None:
        """The next snapshot() reloads."""
        self._current = None

    def _reload(self) -> Directory:
        try:
            with self._session_factory() as session:
                directory = load_directory(session)
        except SQLAlchemyError as exc:
            raise Unavailable("the directory could not be read from the database") from exc
        self._current = directory
        return directory
