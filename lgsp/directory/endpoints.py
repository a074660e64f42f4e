"""The directory as agencies see it: who is on the platform, how each receives, which services
can be called. Never shows adapter settings: those hold addresses and secrets of agency systems."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from lgsp.auth.deps import Authenticated
from lgsp.directory.repository import AgencyInfo, Directory, DirectoryCache
from lgsp.kit import openapi
from lgsp.kit.errors import NotFound

# Any authenticated client may read the directory; it never shows endpoint settings.
router = APIRouter(tags=["directory"])


class AgencyOut(BaseModel):
    # Electronic identifier code (mã định danh điện tử).
    code: str = Field(examples=["000.00.12.H56"])
    name_vi: str = Field(examples=["Sở Tài nguyên và Môi trường"])
    name_en: str = Field(examples=["Department of Natural Resources and Environment"])
    kind: str = Field(examples=["department"])
    parent: str | None = Field(examples=["000.00.00.H56"])
    # "push": the platform delivers to the agency's system; "pull": it reads GET /v1/inbox;
    # null: it sends but does not receive.
    delivery: Literal["push", "pull"] | None


class ServiceOut(BaseModel):
    provider: str = Field(examples=["000.01.12.H56"])
    name: str = Field(examples=["LookupCertificate"])
    description: str
    request_schema: str | None
    response_schema: str | None
    # Where to call it.
    path: str = Field(examples=["/v1/services/000.01.12.H56/LookupCertificate"])


def _directory(request: Request) -> Directory:
    cache: DirectoryCache = request.app.state.directory
    return cache.snapshot()


def _agency_out(a: AgencyInfo) -> AgencyOut:
    return AgencyOut(
        code=a.code,
        name_vi=a.name_vi,
        name_en=a.name_en,
        kind=a.kind,
        parent=a.parent_code,
        delivery=a.delivery,
    )


@router.get("/v1/agencies", response_model=list[AgencyOut])
def list_agencies(request: Request, principal: Authenticated) -> list[AgencyOut]:
    """Every active agency on the platform, by code."""
    return [_agency_out(a) for a in _directory(request).agencies.values() if a.active]


@router.get("/v1/agencies/{code}", response_model=AgencyOut, responses=openapi.AGENCY)
def get_agency(code: str, request: Request, principal: Authenticated) -> AgencyOut:
    """One active agency, by its electronic identifier code."""
    agency = _directory(request).agency(code)
    if agency is None or not agency.active:
        raise NotFound(f"no agency {code} on this platform")
    return _agency_out(agency)


@router.get("/v1/services", response_model=list[ServiceOut])
def list_services(request: Request, principal: Authenticated) -> list[ServiceOut]:
    """The catalogue of synchronous services, callable at ``POST /v1/services/{provider}/{name}``
    by clients granted to."""
    directory = _directory(request)
    return [
        ServiceOut(
            provider=s.provider,
            name=s.name,
            description=s.description,
            request_schema=s.request_schema,
            response_schema=s.response_schema,
            path=f"/v1/services/{s.provider}/{s.name}",
        )
        for (provider, _), s in sorted(directory.services.items())
        if (a := directory.agency(provider)) is not None and a.active
    ]
