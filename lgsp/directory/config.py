"""The declarative province configuration: YAML files in one folder, loaded, checked and applied.

Files (all but ``province.yaml`` optional; config/README.md describes every key)::

    province.yaml       province:       code, names, time zone
    agencies.yaml       agencies:       [agency with its endpoint]
    message-types.yaml  message_types:  {name: schema id, correlation pointer}
    routes.yaml         routes:         {name: message type, sender, recipient, condition, copy}
    grants.yaml         groups:, grants:  who may send what to whom, or call which service
    services.yaml       services:       [synchronous services offered by providers]
    clients.yaml        clients:        [OAuth clients of agencies]

String values may reference the environment as ``${VAR}`` or ``${VAR:-default}`` (``$$`` is a
literal ``$``; :mod:`lgsp.kit.envref`). An unset variable without a default is a problem,
except in a client's ``secret``: that client is skipped by apply with a warning, so a deployment
declares only the clients whose secrets it holds. References are resolved at load, except in
endpoint settings: those are stored as written and resolved when the adapter is built.

``dev/environment.yaml`` in the folder holds values for variables the development set-up needs
(the simulators' demo accounts); only development reads it (:func:`development_environment`).

:func:`check_config` reports every problem it can find in one pass, each with its file, a dotted
key (``agencies[3].code``, ``routes.dossier-to-tnmt.recipient``) and where known a line.
:func:`load_config` returns the validated configuration or raises :class:`ConfigError` with
the same problems. Applying it to the database is an admin use case
(:func:`lgsp.admin.province.apply`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

import lgsp.kit.envref as envref
from lgsp.directory.config_checks import cross_check
from lgsp.directory.config_schema import (
    AGENCY_CODE,
    NAME,
    SCOPES,
    AgencyConfig,
    AnyName,
    ClientConfig,
    ConfigError,
    ConfigProblem,
    EndpointConfig,
    GrantConfig,
    GrantRow,
    KeyPath,
    MessageTypeConfig,
    ProvinceConfig,
    ProvinceInfo,
    RawConfig,
    RouteConfig,
    ServiceConfig,
    format_key,
)

__all__ = [
    "AGENCY_CODE",
    "SCOPES",
    "AgencyConfig",
    "ClientConfig",
    "ConfigError",
    "ConfigProblem",
    "EndpointConfig",
    "GrantConfig",
    "GrantRow",
    "MessageTypeConfig",
    "ProvinceConfig",
    "ProvinceInfo",
    "RouteConfig",
    "ServiceConfig",
    "check_config",
    "development_environment",
    "load_config",
]

FILES: dict[str, tuple[str, ...]] = {
    "province.yaml": ("province",),
    "agencies.yaml": ("agencies",),
    "message-types.yaml": ("message_types",),
    "routes.yaml": ("routes",),
    "grants.yaml": ("groups", "grants"),
    "services.yaml": ("services",),
    "clients.yaml": ("clients",),
}
M = TypeVar("M", bound=BaseModel)


class _Reader:
    """Collects problems while reading; remembers each key's line for the report."""

    def __init__(self) -> None:
        self.problems: list[ConfigProblem] = []
        self.lines: dict[str, dict[KeyPath, int]] = {}
        # Per file: the values whose variable has a ``:-default``, and the variable.
        self.defaulted: dict[str, list[tuple[KeyPath, str]]] = {}

    def add(self, file: str, path: KeyPath, reason: str) -> None:
        lines = self.lines.get(file, {})
        line = None
        for n in range(len(path), -1, -1):
            if path[:n] in lines:
                line = lines[path[:n]]
                break
        self.problems.append(ConfigProblem(file, format_key(path), reason, line))

    def read(self, directory: Path, file: str) -> dict[str, Any] | None:
        """The file's sections, or None when it cannot be read at all."""
        text = (directory / file).read_text(encoding="utf-8")
        try:
            node = yaml.compose(text, Loader=yaml.SafeLoader)
            data = yaml.safe_load(text)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark else None
            reason = f"YAML syntax error: {exc.problem or exc}"
            if exc.context:
                reason += f" ({exc.context})"
            self.problems.append(ConfigProblem(file, "", reason, line))
            return None
        except yaml.YAMLError as exc:
            self.problems.append(ConfigProblem(file, "", f"YAML error: {exc}"))
            return None
        self.lines[file] = {}
        if node is not None:
            self._index(file, node, ())
        if data is None:
            return {}
        if not isinstance(data, dict):
            self.add(file, (), "the file must hold a mapping of sections")
            return None
        for key in data:
            if key not in FILES[file]:
                expected = ", ".join(FILES[file])
                self.add(file, (str(key),), f"unknown key (this file holds: {expected})")
        return {k: v for k, v in data.items() if k in FILES[file]}

    def _index(self, file: str, node: yaml.Node, path: KeyPath) -> None:
        self.lines[file][path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            seen: set[Any] = set()
            for key_node, value_node in node.value:
                key = key_node.value
                self._index(file, value_node, (*path, key))
                self.lines[file][(*path, key)] = key_node.start_mark.line + 1
                if key in seen:
                    # YAML keeps the last one silently; a repeated route name hides a route.
                    self.add(file, (*path, key), "duplicate key")
                seen.add(key)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self._index(file, item, (*path, i))


def _is_endpoint_settings(file: str, path: KeyPath) -> bool:
    return (
        file == "agencies.yaml"
        and len(path) >= 4
        and path[0] == "agencies"
        and path[2:4] == ("endpoint", "settings")
    )


def _is_client_secret(file: str, path: KeyPath) -> bool:
    return (
        file == "clients.yaml" and len(path) == 3 and path[0] == "clients" and path[2] == "secret"
    )


def _expand_file(
    reader: _Reader,
    file: str,
    data: dict[str, Any],
    missing_secrets: dict[int, str],
) -> dict[str, Any]:
    """The file's values with their environment references resolved, except in endpoint
    settings, which keep their references (the adapter registry resolves them when it builds
    the adapter, so no secret is stored); an unset variable is a problem either way."""
    resolution = envref.resolve(data, keep=lambda path: _is_endpoint_settings(file, path))
    value: dict[str, Any] = resolution.value
    for path, name in resolution.missing:
        if _is_client_secret(file, path):
            index = path[1]
            assert isinstance(index, int)
            missing_secrets.setdefault(index, name)
            value["clients"][index]["secret"] = None
        else:
            reader.add(file, path, f"environment variable {name} is not set (and has no default)")
    reader.defaulted[file] = resolution.defaulted
    return value


def _parse_item(reader: _Reader, file: str, path: KeyPath, model: type[M], raw: Any) -> M | None:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        for error in exc.errors(include_url=False, include_input=False):
            # Drop union/validator tags ("list[str]", "function-before[...]") from the location.
            loc = tuple(p for p in error["loc"] if isinstance(p, int) or "[" not in p)
            message = error["msg"]
            if error["type"] == "extra_forbidden":
                message = "unknown key"
            elif error["type"] == "missing":
                message = "required key is missing"
            elif message.startswith("Value error, "):
                message = message[len("Value error, ") :]
            reader.add(file, (*path, *loc), message)
        return None


class _Sections:
    """Raw sections of every file that could be read, each checked for its shape once."""

    def __init__(self, reader: _Reader, data: dict[str, dict[str, Any] | None]) -> None:
        self.reader = reader
        self.data = data

    def as_list(self, file: str, key: str) -> list[Any]:
        value = (self.data.get(file) or {}).get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.reader.add(file, (key,), "must be a list")
            return []
        return value

    def as_map(self, file: str, key: str) -> dict[str, Any]:
        value = (self.data.get(file) or {}).get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.reader.add(file, (key,), "must be a mapping of name to entry")
            return {}
        return {str(k): v for k, v in value.items()}

    def items(self, file: str, key: str, raw: list[Any], model: type[M]) -> list[tuple[int, M]]:
        out = []
        for i, entry in enumerate(raw):
            parsed = _parse_item(self.reader, file, (key, i), model, entry)
            if parsed is not None:
                out.append((i, parsed))
        return out

    def named(self, file: str, key: str, raw: dict[str, Any], model: type[M]) -> dict[str, M]:
        out = {}
        for name, entry in raw.items():
            if not NAME.match(name):
                self.reader.add(file, (key, name), "names use lower-case letters, digits and '-'")
            parsed = _parse_item(self.reader, file, (key, name), model, entry)
            if parsed is not None:
                out[name] = parsed
        return out


def _read_files(directory: Path, reader: _Reader) -> tuple[dict[str, Any], dict[int, str]]:
    data: dict[str, Any] = {}
    missing_secrets: dict[int, str] = {}
    if not directory.is_dir():
        reader.add(str(directory), (), "not a directory")
        return data, missing_secrets
    for entry in sorted(directory.iterdir()):
        if entry.suffix in (".yaml", ".yml") and entry.name not in FILES:
            reader.add(entry.name, (), f"unknown configuration file (known: {', '.join(FILES)})")
    for file in FILES:
        if (directory / file).is_file():
            raw = reader.read(directory, file)
            data[file] = None if raw is None else _expand_file(reader, file, raw, missing_secrets)
    if "province.yaml" not in data:
        reader.add("province.yaml", (), "file missing: every configuration names its province")
    return data, missing_secrets


def _read_all(directory: Path, reader: _Reader) -> RawConfig:
    data, missing_secrets = _read_files(directory, reader)
    unreadable = {file for file, sections in data.items() if sections is None}
    s = _Sections(reader, data)

    province = None
    pdata = data.get("province.yaml")
    if pdata is not None:
        if "province" not in pdata:
            reader.add("province.yaml", ("province",), "required key is missing")
        else:
            province = _parse_item(
                reader, "province.yaml", ("province",), ProvinceInfo, pdata["province"]
            )

    raw_agencies = s.as_list("agencies.yaml", "agencies")
    raw_types = s.as_map("message-types.yaml", "message_types")
    raw_services = s.as_list("services.yaml", "services")
    raw_clients = s.as_list("clients.yaml", "clients")
    groups: dict[str, list[str]] = {}
    for name, members in s.as_map("grants.yaml", "groups").items():
        if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
            reader.add("grants.yaml", ("groups", name), "a group is a list of agency codes")
        else:
            groups[name] = members

    return RawConfig(
        province=province,
        agencies=s.items("agencies.yaml", "agencies", raw_agencies, AgencyConfig),
        message_types=s.named("message-types.yaml", "message_types", raw_types, MessageTypeConfig),
        routes=s.named("routes.yaml", "routes", s.as_map("routes.yaml", "routes"), RouteConfig),
        groups=groups,
        grants=s.items("grants.yaml", "grants", s.as_list("grants.yaml", "grants"), GrantConfig),
        services=s.items("services.yaml", "services", raw_services, ServiceConfig),
        clients=s.items("clients.yaml", "clients", raw_clients, ClientConfig),
        missing_secrets={
            raw_clients[i]["client_id"]: var
            for i, var in missing_secrets.items()
            if i < len(raw_clients) and isinstance(raw_clients[i], dict)
        },
        # Names declared anywhere, even in a broken entry, so that a broken entry is reported
        # once and not again by everything that refers to it.
        agency_codes=AnyName()
        if "agencies.yaml" in unreadable
        else {str(a.get("code")) for a in raw_agencies if isinstance(a, dict)},
        type_names=AnyName() if "message-types.yaml" in unreadable else set(raw_types),
        service_keys=AnyName()
        if "services.yaml" in unreadable
        else {f"{e.get('provider')}/{e.get('name')}" for e in raw_services if isinstance(e, dict)},
        unreadable=unreadable,
        defaulted=reader.defaulted,
    )


def _collect(
    directory: Path,
    schema_ids: set[str] | None,
    adapter_validator: Callable[[str, dict[str, Any]], Any] | None,
    development: bool,
) -> tuple[ProvinceConfig | None, list[ConfigProblem]]:
    reader = _Reader()
    raw = _read_all(directory, reader)
    cross_check(
        raw,
        reader.add,
        schema_ids=schema_ids,
        adapter_validator=adapter_validator,
        development=development,
    )
    if reader.problems or raw.province is None:
        return None, reader.problems
    cfg = ProvinceConfig(
        province=raw.province,
        agencies=[a for _, a in raw.agencies],
        message_types=raw.message_types,
        routes=raw.routes,
        groups=raw.groups,
        grants=[g for _, g in raw.grants],
        services=[s for _, s in raw.services],
        clients=[c for _, c in raw.clients],
        missing_secrets=raw.missing_secrets,
    )
    return cfg, []


def check_config(
    directory: Path,
    *,
    schema_ids: set[str] | None = None,
    adapter_validator: Callable[[str, dict[str, Any]], Any] | None = None,
    development: bool = False,
) -> list[ConfigProblem]:
    """Every problem in the configuration at ``directory``; empty when it is sound.

    ``schema_ids``: the schema catalogue's ids, to check that every schema named exists.
    ``adapter_validator(adapter, settings)``: raises when an endpoint's settings are wrong for
    its adapter (or the adapter is unknown); its message becomes the problem's reason. It gets
    the settings as written (it resolves their references) and returns the validated settings.
    ``development``: unless set, demo secrets, placeholders and defaulted secrets are problems
    (:mod:`lgsp.directory.config_guard`).
    """
    return _collect(Path(directory), schema_ids, adapter_validator, development)[1]


def load_config(
    directory: Path,
    *,
    schema_ids: set[str] | None = None,
    adapter_validator: Callable[[str, dict[str, Any]], Any] | None = None,
    development: bool = False,
) -> ProvinceConfig:
    """The validated configuration at ``directory`` (arguments as for :func:`check_config`);
    :class:`ConfigError` lists every problem."""
    cfg, problems = _collect(Path(directory), schema_ids, adapter_validator, development)
    if problems or cfg is None:
        raise ConfigError(problems, directory=Path(directory))
    return cfg


DEVELOPMENT_ENVIRONMENT = Path("dev") / "environment.yaml"


def development_environment(directory: Path) -> dict[str, str]:
    """The development-only variables of the configuration at ``directory``
    (``dev/environment.yaml``, key ``environment``); empty when there are none."""
    path = Path(directory) / DEVELOPMENT_ENVIRONMENT
    if not path.is_file():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    values = data.get("environment") if isinstance(data, dict) else None
    if not isinstance(values, dict):
        raise ConfigError([ConfigProblem(str(path), "environment", "must be a mapping")])
    return {str(k): str(v) for k, v in values.items()}
