"""The province configuration's data model: one pydantic model per configuration entry, and the
whole :class:`ProvinceConfig`. Files, keys and meaning are described in config/README.md."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

import lgsp.kit.envref as envref
from lgsp.kit.errors import Misconfigured
from lgsp.kit.ratelimit import Rate

# Electronic identifier (Decision 20/2020/QĐ-TTg): four dotted groups ending in the province
# (H..) or ministry (G..) letter code, or the short form used by some provinces (H56.14).
AGENCY_CODE = re.compile(r"^(\d{3}\.\d{2}\.\d{2}\.[A-Z]\d{2}|[A-Z]\d{2}(\.\d{1,3}){1,3})$")
PROVINCE_CODE = re.compile(r"^[A-Z]\d{2}$")
NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
CLIENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{2,63}$")
SCOPES = (
    "messages:send",
    "messages:read",
    "inbox:read",
    "services:call",
    "schemas:validate",
    "admin",
    "audit",
    "metrics",
)
AgencyKind = Literal[
    "people_committee",
    "one_stop_office",
    "department",
    "land_registry",
    "commune",
    "operations_centre",
    "national_system",
    "external_service",
]


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One thing wrong with the configuration."""

    file: str
    key: str
    reason: str
    line: int | None = None

    def __str__(self) -> str:
        where = f" (line {self.line})" if self.line else ""
        return f"{self.file}: {self.key or '(file)'}: {self.reason}{where}"


class ConfigError(Misconfigured):
    """The province configuration has problems; ``problems`` lists every one."""

    status, slug, title = 422, "invalid-configuration", "Invalid province configuration"

    def __init__(self, problems: list[ConfigProblem], *, directory: Path | None = None) -> None:
        where = f" in {directory}" if directory is not None else ""
        detail = f"{len(problems)} configuration problem(s){where}"
        if problems:
            detail += f", the first: {problems[0]}"
        super().__init__(detail, extra={"problems": [str(p) for p in problems]})
        self.problems = problems


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


StrList = Annotated[list[str], BeforeValidator(_as_list)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _agency_code(value: str) -> str:
    if not AGENCY_CODE.match(value):
        raise ValueError(
            f"{value!r} is not an electronic identifier code (e.g. 000.00.12.H56 or H56.14)"
        )
    return value


AgencyCode = Annotated[str, BeforeValidator(lambda v: _agency_code(v) if isinstance(v, str) else v)]


class ProvinceInfo(_Strict):
    code: str = Field(pattern=PROVINCE_CODE.pattern)
    name_vi: str = Field(min_length=1)
    name_en: str = Field(min_length=1)
    timezone: str = "Asia/Ho_Chi_Minh"


class EndpointConfig(_Strict):
    """How the platform reaches the agency: ``push`` through an adapter, or ``pull`` (inbox)."""

    mode: Literal["push", "pull"]
    adapter: str | None = None
    settings: dict[str, Any] = Field(default_factory=dict)
    timeout_seconds: float = Field(default=10.0, gt=0, le=600)
    # None: the platform default (LGSP_RETRY_WINDOW_SECONDS).
    retry_window_seconds: int | None = Field(default=None, gt=0)
    concurrency: int = Field(default=4, ge=1, le=256)


class AgencyConfig(_Strict):
    code: AgencyCode
    name_vi: str = Field(min_length=1)
    name_en: str = Field(min_length=1)
    kind: AgencyKind
    parent: AgencyCode | None = None
    active: bool = True
    endpoint: EndpointConfig | None = None
    # Requests all the agency's clients together may make (token bucket), beyond each client's.
    quota: Rate | None = None


class MessageTypeConfig(_Strict):
    schema_id: str = Field(min_length=1)
    description: str = ""
    # JSON pointer to the ordering key (the dossier code); None: the message's correlation_id.
    correlation_pointer: str | None = Field(default=None, pattern=r"^/")
    # Dossier-related types (the dossier code is at correlation_pointer): "opens" records the
    # sender and recipients as the dossier's parties; "acts" is refused from a non-party.
    dossier: Literal["opens", "acts"] | None = None

    @model_validator(mode="after")
    def _dossier_needs_a_pointer(self) -> MessageTypeConfig:
        if self.dossier is not None and not self.correlation_pointer:
            raise ValueError("'dossier' needs 'correlation_pointer': where the dossier code sits")
        return self


class RouteConfig(_Strict):
    message_type: str
    # None: any sender.
    sender: str | None = None
    recipient: str
    condition: dict[str, Any] | None = None
    # "copy" in the file (the name would shadow BaseModel.copy).
    is_copy: bool = Field(default=False, alias="copy")
    description: str = ""


class GrantConfig(_Strict):
    """``agency`` may ``send`` these message types ``to`` these agencies, or ``call`` these
    services (``provider/service``, ``provider/*``). Agencies may be ``@group`` names."""

    agency: StrList = Field(min_length=1)
    send: StrList | None = None
    call: StrList | None = None
    to: StrList | None = None
    description: str = ""


class ServiceConfig(_Strict):
    provider: str
    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_.-]*$")
    description: str = ""
    # Adapter-specific description of the call (SOAP operation, DVCQG service, HTTP path...).
    operation: dict[str, Any] = Field(default_factory=dict)
    request_schema: str | None = None
    response_schema: str | None = None
    timeout_seconds: float | None = Field(default=None, gt=0, le=600)


class ClientConfig(_Strict):
    client_id: str = Field(pattern=CLIENT_ID.pattern)
    agency: str
    name: str = ""
    scopes: StrList
    # Exactly one: the secret (normally "${ENV_VAR}") or its precomputed scrypt hash.
    secret: str | None = Field(default=None, repr=False)
    secret_hash: str | None = Field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class GrantRow:
    """One grant as stored: the config's grant entries expanded over groups and lists."""

    agency_code: str
    action: str
    target: str
    recipient: str


class ProvinceConfig(BaseModel):
    """The whole configuration, valid and cross-checked."""

    model_config = ConfigDict(frozen=True)

    province: ProvinceInfo
    agencies: list[AgencyConfig] = Field(default_factory=list)
    message_types: dict[str, MessageTypeConfig] = Field(default_factory=dict)
    routes: dict[str, RouteConfig] = Field(default_factory=dict)
    groups: dict[str, list[str]] = Field(default_factory=dict)
    grants: list[GrantConfig] = Field(default_factory=list)
    services: list[ServiceConfig] = Field(default_factory=list)
    clients: list[ClientConfig] = Field(default_factory=list)
    # client_id -> the unset environment variable its secret names; apply skips these.
    missing_secrets: dict[str, str] = Field(default_factory=dict)

    def grant_rows(self) -> list[GrantRow]:
        return expand_grants(self.grants, self.groups)


def expand_grants(grants: list[GrantConfig], groups: dict[str, list[str]]) -> list[GrantRow]:
    """Grant entries as rows, groups resolved, without duplicates, in a stable order."""

    def members(names: list[str]) -> list[str]:
        out: list[str] = []
        for name in names:
            out += groups.get(name[1:], []) if name.startswith("@") else [name]
        return out

    rows: dict[GrantRow, None] = {}
    for g in grants:
        for agency in members(g.agency):
            for target in g.send or []:
                for recipient in members(g.to or []):
                    rows[GrantRow(agency, "send", target, recipient)] = None
            for target in g.call or []:
                rows[GrantRow(agency, "call", target, "*")] = None
    return list(rows)


KeyPath = tuple[str | int, ...]


# ("agencies", 3, "code") -> "agencies[3].code"
format_key = envref.format_path


class AnyName(set[str]):
    """Stands for the names of a file that could not be read: every reference to them passes,
    so one syntax error is reported once, not again by everything that refers to the file."""

    def __contains__(self, item: object) -> bool:
        return True


@dataclass
class RawConfig:
    """What could be read, entry by entry (with each entry's index), before cross-checking."""

    province: ProvinceInfo | None
    agencies: list[tuple[int, AgencyConfig]]
    message_types: dict[str, MessageTypeConfig]
    routes: dict[str, RouteConfig]
    groups: dict[str, list[str]]
    grants: list[tuple[int, GrantConfig]]
    services: list[tuple[int, ServiceConfig]]
    clients: list[tuple[int, ClientConfig]]
    missing_secrets: dict[str, str]
    # Every name declared, including in entries that failed to parse.
    agency_codes: set[str]
    type_names: set[str]
    service_keys: set[str]
    # Files that exist but could not be read at all (syntax errors).
    unreadable: set[str]
    # Per file: the values whose variable has a ``:-default``, and the variable.
    defaulted: dict[str, list[tuple[KeyPath, str]]] = field(default_factory=dict)
