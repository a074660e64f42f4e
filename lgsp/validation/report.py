"""Turn validator errors into the platform's error entries.

One entry is ``{"pointer": <RFC 6901 pointer>, "keyword": <JSON Schema keyword>, "message": ...}``.
Pointers name the offending value itself: for a missing property the property that is missing
(``/MaHoSo``), for an unexpected property that property, one entry each. Messages describe what
was expected and never repeat the offending value, which is often personal data or a large
base64 file.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, TypedDict

from lgsp.validation.formats import FORMAT_DESCRIPTIONS


class ErrorEntry(TypedDict):
    pointer: str
    keyword: str
    message: str


def pointer(path: Iterable[str | int]) -> str:
    """RFC 6901 JSON pointer for a path of property names and array indexes."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _describe(keyword: str, params: dict[str, Any], fallback: str) -> str:
    """A message for one keyword failure, from the keyword's parameters."""
    match keyword:
        case "format":
            name = str(params.get("format"))
            return f"must be {FORMAT_DESCRIPTIONS.get(name, 'a valid ' + name)}"
        case "type":
            return "must be of type " + " or ".join(params.get("types", []))
        case "enum":
            return "must be one of: " + ", ".join(_short(o, 30) for o in params.get("options", []))
        case "const":
            return f"must be {_short(params.get('expected_value'))}"
        case "pattern" if params.get("pattern") == r"\S":
            return "must not be blank"
        case "pattern":
            return f"does not match the pattern {params.get('pattern')}"
        case "minLength":
            return (
                "must not be empty"
                if params.get("limit") == 1
                else (f"must be at least {params.get('limit')} characters long")
            )
        case "maxLength":
            return f"must be at most {params.get('limit')} characters long"
        case "minimum":
            return f"must be at least {params.get('limit')}"
        case "maximum":
            return f"must be at most {params.get('limit')}"
        case "exclusiveMinimum":
            return f"must be greater than {params.get('limit')}"
        case "exclusiveMaximum":
            return f"must be less than {params.get('limit')}"
        case "minItems":
            return f"must have at least {params.get('limit')} item(s)"
        case "maxItems":
            return f"must have at most {params.get('limit')} item(s)"
        case _:
            # The library's text can quote the whole instance; keep it readable.
            return fallback if len(fallback) <= 200 else fallback[:197] + "..."


def entries(error: Any) -> list[ErrorEntry]:
    """The entries for one ``jsonschema_rs.ValidationError`` (more than one for a property list)."""
    kind = error.kind
    keyword: str = kind.name
    path: Sequence[str | int] = error.instance_path
    params: dict[str, Any] = kind.as_dict()
    if keyword == "required":
        name = str(params["property"])
        return [{"pointer": pointer([*path, name]), "keyword": keyword, "message": "is required"}]
    if keyword in ("additionalProperties", "unevaluatedProperties"):
        return [
            {"pointer": pointer([*path, name]), "keyword": keyword, "message": "is not allowed"}
            for name in params.get("unexpected", [])
        ]
    if keyword == "anyOf":
        # Say what each alternative wanted: "must be an IPv4 address, or must be an IPv6 address".
        options = [
            "; ".join(entry["message"] for sub in branch for entry in entries(sub))
            for branch in params.get("context", [])
        ]
        message = ", or ".join(o for o in options if o) or "matches none of the allowed forms"
        return [{"pointer": pointer(path), "keyword": keyword, "message": message}]
    message = _describe(keyword, params, str(error.message))
    return [{"pointer": pointer(path), "keyword": keyword, "message": message}]


def _pointer_key(value: str) -> tuple[tuple[int, int, str], ...]:
    # Array indexes compare as numbers, so /TaiLieuNop/2 sorts before /TaiLieuNop/10.
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in value.split("/")[1:])


def sort_entries(items: Iterable[ErrorEntry]) -> list[ErrorEntry]:
    """Sorted by pointer (then keyword, message), duplicates removed."""
    unique = {(e["pointer"], e["keyword"], e["message"]): e for e in items}
    ordered = sorted(unique, key=lambda k: (_pointer_key(k[0]), k[1], k[2]))
    return [unique[key] for key in ordered]
