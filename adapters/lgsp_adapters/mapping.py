"""Declarative mapping: how the generic REST and SOAP adapters make a provider's request out of a
message, and decide whether its reply means success. Written in the province configuration, per
endpoint (``settings.mapping``: deliveries) and per service (``operation.mapping``: calls)::

    mapping:
      fields:
        User: {const: "${SMS_USER}"}           # a constant (${ENV} resolved when built)
        ReceiverID: {from: /phone, transform: [phone_84]}
        UserID: {from: /phone, transform: [phone_84]}    # one value into two parameters
        Content: {from: /content, transform: [strip_diacritics]}
        RequestID: {context: message_id}       # the envelope (deliveries) or the call
        HoTen: {from: [/Ho, /Ten], transform: [{join: " "}]}
        Ngay: {from: /NgayNop, transform: [{date: {from: "%Y%m%d%H%M%S", to: "%d/%m/%Y"}}]}
        GhiChu: {from: /GhiChu, default: ""}    # absent or null: the default
        MaXa: {from: /MaXa, required: false}    # absent or null: the field is left out
      success: {pointer: /return, in: [1], failure: permanent}   # or equals: 1; retriable

Only the fields listed are sent: whatever else the payload carries is dropped. A ``from``
pointer that finds nothing is a permanent error before anything is sent, unless the field has
a ``default`` or ``required: false``. A reply that fails ``success`` is a PermanentError or a
RetriableError, as ``failure`` says.

Transforms, applied in order:

``phone_84``         a Vietnamese phone number in the international form without ``+``:
                     ``0912 345 678`` / ``+84912345678`` -> ``84912345678``
``strip_diacritics`` Vietnamese without diacritics: ``Hồ sơ đã xong`` -> ``Ho so da xong``
``upper``, ``lower``, ``string``   case, or any JSON value as text (``true`` -> ``true``)
``{date: {from, to}}``  re-format a date with ``strptime`` / ``strftime`` patterns
``{join: SEP}``      a list (or several ``from`` pointers) into one string
``{split: SEP}``     a string into a list
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Literal

import jsonpointer
import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from lgsp_adapters.base import (
    AdapterConfigError,
    AdapterError,
    CallRequest,
    Capture,
    Envelope,
    PermanentError,
    RetriableError,
)

_MISSING = object()


# -- transforms ------------------------------------------------------------------------------
def phone_84(value: Any) -> str:
    digits = re.sub(r"[\s.\-()]", "", str(value)).removeprefix("+")
    if not digits.isdigit():
        raise ValueError(f"{value!r} is not a phone number")
    if digits.startswith("0"):
        return "84" + digits[1:]
    return digits if digits.startswith("84") else "84" + digits


def strip_diacritics(value: Any) -> str:
    text = str(value).replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFD", text)
    return unicodedata.normalize(
        "NFC", "".join(c for c in decomposed if not unicodedata.combining(c))
    )


def _string(value: Any) -> str:
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


_SIMPLE: dict[str, Callable[[Any], Any]] = {
    "phone_84": phone_84,
    "strip_diacritics": strip_diacritics,
    "upper": lambda v: str(v).upper(),
    "lower": lambda v: str(v).lower(),
    "string": _string,
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class DateFormat(_Strict):
    from_: str = Field(alias="from")
    to: str


class TransformStep(_Strict):
    """One step: a simple name, or ``{date: ...}``, ``{join: SEP}``, ``{split: SEP}``."""

    name: str | None = None
    date: DateFormat | None = None
    join: str | None = None
    split: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, value: Any) -> Any:
        if isinstance(value, str):
            if value not in _SIMPLE:
                raise ValueError(f"unknown transform {value!r}; one of {sorted(_SIMPLE)}")
            return {"name": value}
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> TransformStep:
        given = [f for f in ("name", "date", "join", "split") if getattr(self, f) is not None]
        if len(given) != 1:
            raise ValueError("a transform is one of a name, date, join or split")
        return self

    def apply(self, value: Any) -> Any:
        if self.name is not None:
            return _SIMPLE[self.name](value)
        if self.date is not None:
            return datetime.strptime(str(value), self.date.from_).strftime(self.date.to)
        if self.join is not None:
            items = value if isinstance(value, list) else [value]
            return self.join.join(_string(v) for v in items if v not in (None, ""))
        assert self.split is not None
        return [part for part in str(value).split(self.split) if part != ""]


class FieldSource(_Strict):
    """Where one field of the provider's request comes from: exactly one of ``const``,
    ``from`` (one JSON pointer into the payload, or several, giving a list) or ``context``."""

    const: Any = None
    from_: str | list[str] | None = Field(default=None, alias="from")
    context: str | None = None
    transform: list[TransformStep] = Field(default_factory=list)
    default: Any = None
    required: bool = True

    @field_validator("from_")
    @classmethod
    def _pointers(cls, value: str | list[str] | None) -> str | list[str] | None:
        for pointer in [value] if isinstance(value, str) else value or []:
            if pointer and not pointer.startswith("/"):
                raise ValueError(f"{pointer!r} is not a JSON pointer (starts with '/')")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> FieldSource:
        sources = [
            "const" in self.model_fields_set,
            self.from_ is not None,
            self.context is not None,
        ]
        if sum(sources) != 1:
            raise ValueError("a field takes exactly one of const, from or context")
        return self

    def value(self, payload: Any, context: Mapping[str, Any]) -> Any:
        """The field's value, or ``_MISSING`` when it is left out."""
        if "const" in self.model_fields_set:
            value = self.const
        elif self.context is not None:
            if self.context not in context:
                raise PermanentError(f"the mapping names {self.context!r}, which is not known here")
            value = context[self.context]
        elif isinstance(self.from_, list):
            value = [_lookup(payload, p) for p in self.from_]
            value = [v for v in value if v is not _MISSING]
        else:
            assert self.from_ is not None
            value = _lookup(payload, self.from_)
        if value is _MISSING or value is None:
            if self.default is not None:
                value = self.default
            elif self.required:
                raise PermanentError(f"the payload has nothing at {self.from_} for the mapping")
            else:
                return _MISSING
        for step in self.transform:
            try:
                value = step.apply(value)
            except (ValueError, TypeError) as exc:
                raise PermanentError(f"mapping transform failed: {exc}") from exc
        return value


class SuccessRule(_Strict):
    """The reply is a success when the value at ``pointer`` equals ``equals`` or is one of
    ``in`` (compared as JSON values, and as text so that ``1`` and ``"1"`` agree)."""

    pointer: str = ""
    equals: Any = None
    in_: list[Any] | None = Field(default=None, alias="in")
    failure: Literal["permanent", "retriable"] = "permanent"

    @model_validator(mode="after")
    def _one_test(self) -> SuccessRule:
        if ("equals" in self.model_fields_set) == (self.in_ is not None):
            raise ValueError("a success rule takes exactly one of equals or in")
        return self

    def check(
        self, reply: Any, *, status_code: int | None, raw: str | None, captures: list[Capture]
    ) -> None:
        """Return when the reply means success; raise the configured failure otherwise."""
        found = _lookup(reply, self.pointer)
        wanted = [self.equals] if self.in_ is None else self.in_
        if found is not _MISSING and any(_same(found, w) for w in wanted):
            return
        shown = "nothing" if found is _MISSING else orjson.dumps(found).decode()
        kind: type[AdapterError] = RetriableError if self.failure == "retriable" else PermanentError
        raise kind(
            f"the reply does not mean success: {self.pointer or 'the reply'} is {shown}, "
            f"expected {'one of ' if self.in_ is not None else ''}"
            f"{orjson.dumps(wanted if self.in_ is not None else self.equals).decode()}",
            status_code=status_code,
            reply=raw,
            captures=captures,
        )


class DeclarativeMapping(_Strict):
    fields: dict[str, FieldSource] = Field(min_length=1)
    success: SuccessRule | None = None

    def build(self, payload: Any, context: Mapping[str, Any]) -> dict[str, Any]:
        """The provider's request: each field in order, unmapped payload fields dropped."""
        out: dict[str, Any] = {}
        for name, source in self.fields.items():
            value = source.value(payload, context)
            if value is not _MISSING:
                out[name] = value
        return out


def envelope_context(envelope: Envelope) -> dict[str, Any]:
    """What ``context:`` can name in a delivery's mapping: the envelope's attributes."""
    return {
        "message_id": envelope.message_id,
        "type": envelope.type,
        "sender": envelope.sender,
        "recipient": envelope.recipient,
        "correlation_id": envelope.correlation_id,
        "correlation_key": envelope.correlation_key,
        "accepted_at": envelope.accepted_at.isoformat(),
        "attempt": envelope.attempt,
    }


def call_context(request: CallRequest) -> dict[str, Any]:
    """What ``context:`` can name in a service's mapping."""
    return {"caller": request.caller, "request_id": request.request_id, "service": request.service}


_PARSED: dict[bytes, DeclarativeMapping] = {}


def parse_mapping(raw: Any, where: str) -> DeclarativeMapping | None:
    """A service's ``operation.mapping`` (or None); raises AdapterConfigError when it is wrong
    (the province's configuration is at fault, not the caller)."""
    if raw is None:
        return None
    key = orjson.dumps(raw, option=orjson.OPT_SORT_KEYS)
    parsed = _PARSED.get(key)
    if parsed is None:
        try:
            parsed = DeclarativeMapping.model_validate(raw)
        except ValueError as exc:
            raise AdapterConfigError(f"the mapping of {where} is not valid: {exc}") from exc
        if len(_PARSED) < 256:
            _PARSED[key] = parsed
    return parsed


def _lookup(document: Any, pointer: str) -> Any:
    try:
        return jsonpointer.resolve_pointer(document, pointer)
    except jsonpointer.JsonPointerException:
        return _MISSING


def _same(found: Any, wanted: Any) -> bool:
    if found == wanted and type(found) is type(wanted):
        return True
    return _string(found) == _string(wanted)


__all__ = [
    "DeclarativeMapping",
    "FieldSource",
    "SuccessRule",
    "TransformStep",
    "call_context",
    "envelope_context",
    "parse_mapping",
    "phone_84",
    "strip_diacritics",
]
