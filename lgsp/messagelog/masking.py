"""Masking of personal identifiers in payloads and log details shown to admins (Decree 13/2023
on personal data protection): citizen ids (CCCD), phone numbers, personal names, e-mail
addresses. Auditors may see the unmasked value; that request is itself logged (lgsp/cli/log.py).

Rules, applied to nested JSON without changing its shape:
- names are found by key (the field names of the province's messages, compared without case,
  ``_`` or ``-``), also ``name``/``ten``/``hoten`` inside a person object (``NguoiSuDung``,
  ``reporter``, ...); every word keeps its first letter: ``Nguyễn Văn An`` -> ``N*** V*** A***``;
- identifier and phone fields (``SoDienThoai``, ``SoGiayToChuHoSo``, ``SoDinhDanh``, ``CCCD``,
  ``ReceiverTel``, ``MOBILELIST``, ...) keep the last 3 digits of each number (a list separated
  by ``,`` ``;`` ``|`` is masked item by item): ``079203001234`` -> ``*********234``;
- e-mail fields, and any value that is an e-mail address, keep the first letter and the domain;
- in every other string (free text such as ``GhiChu``), a standalone 12-digit number (CCCD) or a
  Vietnamese mobile number is masked in place; code fields (``Ma*``, ids, amounts, dates) are
  left alone so dossier codes and references stay readable.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

_NAME_KEYS = frozenset(
    {
        "hoten",  # full name
        "hovaten",
        "chuhoso",  # dossier owner
        "tenchuhoso",
        "tennguoinop",  # applicant's name
        "hotennguoinop",
        "nguoinop",
        "nguoidaidien",  # legal representative
        "nguoiyeucau",  # requester
        "tencongdan",  # citizen's name
        "nguoisudung",  # land user (when a plain string)
        "chusudung",  # land owner
        "receivername",
        "sendername",
        "customername",
        "contactname",
        "reportername",
        "fullname",
        "ownername",
        "applicantname",
        "citizenname",
    }
)
# Objects describing one person: their plain name keys are personal names too.
_PERSON_KEYS = frozenset(
    {
        "nguoisudung",
        "chusudung",
        "thongtinnguoinopdon",  # applicant block of land registry intake
        "nguoinop",
        "nguoidaidien",
        "nguoiphananh",  # citizen filing a field report
        "congdan",
        "reporter",
        "applicant",
        "citizen",
        "owner",
        "contact",
        "customer",
        "person",
    }
)
_PERSON_NAME_KEYS = frozenset({"name", "ten", "hoten", "hovaten", "fullname"})
_ID_KEYS = frozenset(
    {
        "cccd",
        "cmnd",
        "socccd",
        "socmnd",
        "socancuoc",
        "sochungminh",  # id card number
        "sogiaytochuhoso",  # dossier owner's id document number
        "sodinhdanh",  # personal identification number
        "madinhdanh",
        "sohochieu",  # passport number
        "citizenid",
        "nationalid",
        "idnumber",
        "identitynumber",
        "passport",
    }
)
_PHONE_KEYS = frozenset(
    {
        "sodienthoai",
        "dienthoai",
        "sodt",
        "sdt",
        "phone",
        "phonenumber",
        "mobile",
        "mobilelist",
        "tel",
        "sendertel",
        "receivertel",
        "receiverid",  # SMS gateway: the subscriber's number
        "userid",
        "num",  # SMS gateway: a recipient number
        "fax",
    }
)
_EMAIL_KEYS = frozenset({"email", "senderemail", "receiveremail", "thudientu"})

_LIST_SEPARATOR = re.compile(r"([,;|])")
_EMAIL = re.compile(r"^([^@\s])[^@\s]*@([^@\s]+\.[^@\s]+)$")
# A CCCD or a mobile number standing on its own inside free text.
_FREE_TEXT_ID = re.compile(r"(?<![\d.\-/])(?:\d{12}|(?:\+?84|0)[35789]\d{8})(?![\d.\-/])")
_WORD = re.compile(r"\S+")


def _norm(key: str) -> str:
    return key.replace("_", "").replace("-", "").lower()


def _is_code_key(key: str) -> bool:
    # MaHoSo, MaTTHC, TepDinhKemId, SoTien, NgayNop...: references, amounts and dates.
    return (
        (key[:2] == "Ma" and key[2:3].isupper())
        or key.lower().endswith("id")
        or key.lower() in {"id", "sotien", "gia", "amount", "codamount"}
        or key[:4] == "Ngay"
    )


def mask_name(value: str) -> str:
    """``Nguyễn Văn An`` -> ``N*** V*** A***`` (word count kept, lengths hidden)."""
    return _WORD.sub(lambda m: m.group(0)[0] + "***", value)


def mask_digits(value: str) -> str:
    """In each comma/semicolon-separated item with 4+ digits, every digit but the last 3 is
    hidden, separators kept: ``+84912345678`` -> ``+********678``,
    ``0912 345 678`` -> ``**** *** 678``."""
    return "".join(_mask_item(part) for part in _LIST_SEPARATOR.split(value))


def _mask_item(item: str) -> str:
    digits = sum(c.isdigit() for c in item)
    if digits < 4:
        return item
    hide = digits - 3
    out = []
    for c in item:
        if c.isdigit() and hide:
            out.append("*")
            hide -= 1
        else:
            out.append(c)
    return "".join(out)


def mask_email(value: str) -> str:
    """``nguyenvana@gmail.com`` -> ``n***@gmail.com``."""
    m = _EMAIL.match(value.strip())
    return f"{m.group(1)}***@{m.group(2)}" if m else mask_digits(value)


# An XML element whose local name is a personal field, e.g. <ns:ChuHoSo>...</ns:ChuHoSo>.
_XML_FIELD = re.compile(r"<((?:[\w.-]+:)?([\w.-]+))(\s[^<>]*)?>([^<]*)</\1>")


def _mask_xml_fields(text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        tag, local, attrs, content = (
            match.group(1),
            match.group(2),
            match.group(3) or "",
            match.group(4),
        )
        masked = _mask(content, local, in_person=True)
        return f"<{tag}{attrs}>{masked}</{tag}>"

    return _XML_FIELD.sub(replace, text)


def mask_free_text(value: str) -> str:
    """Identifiers anywhere in a text; in an embedded JSON document or an XML envelope (the
    raw exchanges kept in the log) also the values of personal fields."""
    stripped = value.lstrip()
    if stripped[:1] in ("{", "["):
        try:
            parsed = orjson.loads(value)
        except orjson.JSONDecodeError:
            pass
        else:
            return orjson.dumps(_mask(parsed, None, in_person=False)).decode()
    if "<" in value and ">" in value:
        value = _mask_xml_fields(value)
    return _FREE_TEXT_ID.sub(lambda m: mask_digits(m.group(0)), value)


def mask_payload(value: Any) -> Any:
    """A copy of ``value`` (nested dicts, lists, scalars) with personal identifiers masked."""
    return _mask(value, None, in_person=False)


def _mask(value: Any, key: str | None, *, in_person: bool) -> Any:
    if isinstance(value, dict):
        person = key is not None and _norm(key) in _PERSON_KEYS
        return {k: _mask(v, str(k), in_person=person) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v, key, in_person=in_person) for v in value]
    if key is None:
        return mask_free_text(value) if isinstance(value, str) else value
    norm = _norm(key)
    if isinstance(value, int | float) and not isinstance(value, bool):
        # A phone or id stored as a number.
        return mask_digits(str(value)) if norm in _PHONE_KEYS or norm in _ID_KEYS else value
    if not isinstance(value, str):
        return value
    if norm in _NAME_KEYS or (in_person and norm in _PERSON_NAME_KEYS):
        return mask_name(value)
    if norm in _EMAIL_KEYS:
        return mask_email(value)
    if norm in _ID_KEYS or norm in _PHONE_KEYS:
        return mask_digits(value)
    if "@" in value and _EMAIL.match(value.strip()):
        return mask_email(value)
    if _is_code_key(key):
        return value
    return mask_free_text(value)
