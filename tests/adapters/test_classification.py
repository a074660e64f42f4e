"""Every HTTP status sorted into success, retry later or permanent, as the whole platform relies
on it (delivery retries, dead letters, the circuit breaker, mediation answers)."""

from __future__ import annotations

import pytest
from lgsp_adapters.base import (
    AdapterConfigError,
    PermanentError,
    RetriableError,
    UpstreamTimeout,
    classify_http_status,
)

# Asked again later: a request timeout, "too early", rate limiting and every server-side failure.
RETRIABLE = {408, 425, 429}


@pytest.mark.parametrize("status", range(100, 600))
def test_every_status_has_its_class(status: int) -> None:
    got = classify_http_status(status)
    if 200 <= status < 300:
        assert got is None
    elif status in RETRIABLE or status >= 500:
        assert got is RetriableError
    else:
        assert got is PermanentError


def test_the_error_tree() -> None:
    assert RetriableError.retriable and UpstreamTimeout.retriable
    assert issubclass(UpstreamTimeout, RetriableError)
    assert not PermanentError.retriable and not AdapterConfigError.retriable
    error = RetriableError("busy", status_code=503, reply="x" * 10_000, retry_after=7)
    assert error.reason == "busy" and error.status_code == 503 and error.retry_after == 7
    assert error.reply is not None and len(error.reply) < 4200  # truncated for the log
