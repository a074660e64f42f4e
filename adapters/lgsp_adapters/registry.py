"""Find, configure and build adapters by name.

Built-in adapters are registered by alias and imported only when asked for; adapters installed
from outside the tree declare themselves in the ``lgsp.adapters`` entry-point group::

    [project.entry-points."lgsp.adapters"]
    vnpost = "lgsp_vnpost.adapter:VnpostAdapter"

Every failure is an :class:`AdapterConfigError` (unknown name, import failure, invalid settings),
raised when the platform starts, so a broken adapter stops the start instead of being skipped.

Settings values may name environment variables as ``${NAME}`` or ``${NAME:-default}``
(:mod:`lgsp.kit.envref`; secrets stay out of the configuration files and the database);
they are resolved here, before validation, and a missing variable is an error.
"""

from __future__ import annotations

import difflib
import importlib
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from pydantic import ValidationError

from lgsp.kit import envref
from lgsp_adapters.base import Adapter, AdapterConfigError, AdapterSettings

ENTRY_POINT_GROUP = "lgsp.adapters"

BUILTIN: dict[str, str] = {
    "rest": "lgsp_adapters.rest:RestAdapter",
    "soap": "lgsp_adapters.soap:SoapAdapter",
    "memory": "lgsp_adapters.memory:MemoryAdapter",
    "dvcqg": "lgsp_adapters.dvcqg:DvcqgAdapter",
}


def _entry_points() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def available() -> list[str]:
    """Every adapter name that can be asked for: built-ins and installed entry points."""
    return sorted(set(BUILTIN) | set(_entry_points()))


def _target(name: str) -> str:
    plugins = _entry_points()
    builtin = BUILTIN.get(name)
    plugin = plugins.get(name)
    if builtin and plugin and plugin.value != builtin:
        # A plugin must not silently replace a built-in that the configuration relies on.
        raise AdapterConfigError(
            f"adapter {name!r} is both built in ({builtin}) and installed by an entry point "
            f"({plugin.value}); rename the plugin"
        )
    if builtin:
        return builtin
    if plugin:
        return plugin.value
    suggestions = difflib.get_close_matches(name, available(), n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(repr(s) for s in suggestions)}?" if suggestions else ""
    raise AdapterConfigError(
        f"unknown adapter {name!r}{hint} (available: {', '.join(available())})"
    )


def adapter_class(name: str) -> type[Adapter]:
    """The adapter class registered under ``name``, imported now."""
    target = _target(name)
    module_name, _, attribute = target.partition(":")
    try:
        module = importlib.import_module(module_name)
        loaded: Any = getattr(module, attribute) if attribute else module
    except Exception as exc:
        raise AdapterConfigError(
            f"adapter {name!r} ({target}) failed to load: {type(exc).__name__}: {exc}"
        ) from exc
    if not (isinstance(loaded, type) and issubclass(loaded, Adapter)):
        raise AdapterConfigError(f"adapter {name!r} ({target}) is not an Adapter subclass")
    return loaded


def expand_env(value: Any, path: str = "") -> Any:
    """``value`` with every environment reference resolved (:mod:`lgsp.kit.envref`); an
    unset variable without a default is an AdapterConfigError naming it and its field."""
    resolution = envref.resolve(value)
    if resolution.missing:
        where, variable = resolution.missing[0]
        field = ".".join(p for p in (path, envref.format_path(where)) if p)
        raise AdapterConfigError(
            f"environment variable {variable} is not set" + (f" (in {field})" if field else "")
        )
    return resolution.value


def _describe(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors(include_url=False, include_input=False):
        location = ".".join(str(part) for part in error["loc"]) or "(settings)"
        lines.append(f"{location}: {error['msg']}")
    return "; ".join(lines)


def validate_settings(name: str, settings: dict[str, Any]) -> AdapterSettings:
    """The endpoint's settings checked against the adapter's ``Settings`` model."""
    cls = adapter_class(name)
    expanded = expand_env(settings)
    try:
        return cls.Settings.model_validate(expanded)
    except ValidationError as exc:
        raise AdapterConfigError(
            f"invalid settings for adapter {name!r}: {_describe(exc)}"
        ) from exc


def build(name: str, settings: dict[str, Any], *, agency_code: str, timeout: float) -> Adapter:
    """A ready adapter for one endpoint. Anything that goes wrong is an AdapterConfigError."""
    cls = adapter_class(name)
    validated = validate_settings(name, settings)
    try:
        return cls(validated, agency_code=agency_code, timeout=timeout)
    except AdapterConfigError:
        raise
    except Exception as exc:
        raise AdapterConfigError(
            f"adapter {name!r} for {agency_code} could not start: {type(exc).__name__}: {exc}"
        ) from exc
