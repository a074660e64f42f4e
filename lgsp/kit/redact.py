"""What a caller may see of a problem: no internal addresses, upstream replies cut short.

Problems about a provider or a recipient are built from what the adapter met, which can name
the internal address it called (``http://10.2.0.7:8080/api/...``) and carry the provider's raw
reply. The caller is told which service failed and how (the contract: RFC 9457 with a stable
type, ``upstream_status`` and at most :data:`MAX_UPSTREAM_REPLY` characters of the reply);
addresses are withheld and the full exchange stays in the message log for operators.
"""

from __future__ import annotations

import re
from typing import Any

WITHHELD = "<address withheld>"
MAX_UPSTREAM_REPLY = 1000
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s\"'<>]+", re.IGNORECASE)
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?(?![\d.])")
_IPV6 = re.compile(r"\[[0-9a-f:]+\](?::\d{1,5})?", re.IGNORECASE)


def withhold_addresses(text: str) -> str:
    return _IPV6.sub(WITHHELD, _IPV4.sub(WITHHELD, _URL.sub(WITHHELD, text)))


def public_problem(problem: dict[str, Any]) -> dict[str, Any]:
    """``problem`` as it may leave the platform (changed in place and returned)."""
    detail = problem.get("detail")
    if isinstance(detail, str):
        problem["detail"] = withhold_addresses(detail)
    reply = problem.get("upstream_reply")
    if isinstance(reply, str):
        reply = withhold_addresses(reply)
        if len(reply) > MAX_UPSTREAM_REPLY:
            reply = reply[:MAX_UPSTREAM_REPLY] + " [cut]"
        problem["upstream_reply"] = reply
    return problem
