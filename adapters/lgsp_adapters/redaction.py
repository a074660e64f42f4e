"""Credentials taken out of captured exchanges before they reach the message log.

The message log is hash-chained and sealed: a secret written there cannot be removed without
breaking verification. So every :class:`~lgsp_adapters.base.Capture` (and every reply an adapter
reports) goes through :func:`redact` when it is made, whichever adapter made it, built-in or
plug-in. Masking of personal data for readers (lgsp/messagelog/masking.py) is a different,
reversible matter: what is redacted here is never stored at all.

Removed, in text that may be XML, JSON, a form, an HTTP head or a mixture (the REST adapter
captures ``METHOD URL`` then the body), and that may have been cut short for the log:

- a WS-Security header (``<wsse:Security>`` with its UsernameToken, Password, Nonce...): its
  whole content;
- XML elements, JSON members, form and query parameters and header lines whose name says
  credential: containing ``password``, ``passwd``, ``secret`` or ``credential``, ending in
  ``token`` or ``apikey``, or one of ``authorization``, ``proxy-authorization``, ``cookie``,
  ``set-cookie``, ``session``, ``sessionid`` (names compared without case, namespace prefix,
  ``_`` or ``-``).
"""

from __future__ import annotations

import re

REDACTED = "[redacted]"

_CONTAINS = ("password", "passwd", "secret", "credential")
_ENDS = ("token", "apikey")
_EXACT = frozenset(
    {"authorization", "proxyauthorization", "cookie", "setcookie", "session", "sessionid"}
)


def is_secret_name(name: str) -> bool:
    """Whether a field, element, parameter or header of this name carries a credential."""
    local = name.rsplit(":", 1)[-1].rsplit("}", 1)[-1]
    key = re.sub(r"[^a-z0-9]", "", local.lower())
    return key in _EXACT or key.endswith(_ENDS) or any(word in key for word in _CONTAINS)


# <wsse:Security ...> ... </wsse:Security>, or to the end of a capture cut short inside it.
_WS_SECURITY = re.compile(r"<((?:[\w.-]+:)?Security)\b[^>]*?(/)?>(?(2)|.*?(?:</\1\s*>|\Z))", re.S)
# A leaf element <p:Name attr>text</p:Name> (the closing tag may be cut off).
_XML_LEAF = re.compile(r"<((?:[\w.-]+:)?([\w.-]+))(\s[^<>]*)?>([^<]*)(</\1\s*>)?")
# "name": value (a string, possibly unterminated, or a bare scalar).
_JSON_MEMBER = re.compile(r'"((?:[^"\\]|\\.)*)"(\s*:\s*)("(?:[^"\\]|\\.)*"?|[^\s,{}\[\]]+)')
# name=value in a query string or a form body.
_FORM_PAIR = re.compile(r"(^|[?&;])([^=&?;\s#]+)=([^&;\s#]*)", re.M)
# An HTTP header line.
_HEADER_LINE = re.compile(r"^([A-Za-z][\w-]*)([ \t]*:[ \t]*)(.*)$", re.M)


def _ws_security(match: re.Match[str]) -> str:
    return f"<{match.group(1)}>{REDACTED}</{match.group(1)}>"


def _xml_leaf(match: re.Match[str]) -> str:
    if not is_secret_name(match.group(2)) or not match.group(4):
        return match.group(0)
    tag, attributes, closing = match.group(1), match.group(3) or "", match.group(5) or ""
    return f"<{tag}{attributes}>{REDACTED}{closing}"


def _json_member(match: re.Match[str]) -> str:
    if not is_secret_name(match.group(1)) or match.group(3) in ("null", '""'):
        return match.group(0)
    return f'"{match.group(1)}"{match.group(2)}"{REDACTED}"'


def _form_pair(match: re.Match[str]) -> str:
    if not is_secret_name(match.group(2)) or not match.group(3):
        return match.group(0)
    return f"{match.group(1)}{match.group(2)}={REDACTED}"


def _header_line(match: re.Match[str]) -> str:
    if not is_secret_name(match.group(1)):
        return match.group(0)
    return f"{match.group(1)}{match.group(2)}{REDACTED}"


def redact(text: str | None) -> str | None:
    """``text`` with every credential it carries replaced by ``[redacted]``."""
    if not text:
        return text
    if "Security" in text:
        text = _WS_SECURITY.sub(_ws_security, text)
    if "<" in text:
        text = _XML_LEAF.sub(_xml_leaf, text)
    if '"' in text:
        text = _JSON_MEMBER.sub(_json_member, text)
    if "=" in text:
        text = _FORM_PAIR.sub(_form_pair, text)
    if ":" in text:
        text = _HEADER_LINE.sub(_header_line, text)
    return text
