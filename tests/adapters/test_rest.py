from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from lgsp_adapters import registry
from lgsp_adapters.base import CallRequest, PermanentError, RetriableError, UpstreamTimeout
from lgsp_adapters.rest import RestAdapter
from lgsp_adapters.rest.http import parse_retry_after
from lgsp_testkit import free_port
from lgsp_testkit.contract import AdapterContract, envelope
from lgsp_testkit.rest_recipient import RestRecipient, RunningRecipient, serve_rest_recipient


class HttpRecipient:
    def __init__(self, running: RunningRecipient) -> None:
        self.running = running

    def received_ids(self) -> list[str]:
        return self.running.recipient.received_ids()

    def fail_next(self, times: int = 1) -> None:
        self.running.recipient.script("unavailable", times)

    def reject_next(self, times: int = 1) -> None:
        self.running.recipient.script("reject", times)

    def stall_next(self, seconds: float) -> None:
        self.running.recipient.script("slow", delay=seconds)


class TestRestAdapter(AdapterContract):
    adapter_name = "rest"
    bad_settings = [
        ({}, "url: Field required"),
        ({"url": "ftp://example.org/x"}, "url"),
        ({"url": "http://127.0.0.1:1", "auth": {"type": "bearer"}}, "auth.bearer.token"),
        ({"url": "http://127.0.0.1:1", "auth": {"type": "kerberos"}}, "auth"),
        ({"url": "http://127.0.0.1:1", "method": "GET"}, "method"),
        ({"url": "http://127.0.0.1:1", "verfy_tls": False}, "verfy_tls"),
    ]

    def payload(self, n: int) -> dict[str, Any]:
        return {"MaHoSo": f"000.00.12.H02-261126-{n:04d}", "blob": "x" * 2000}

    @pytest.fixture
    def recipient(self) -> Iterator[HttpRecipient]:
        with serve_rest_recipient() as running:
            yield HttpRecipient(running)

    @pytest.fixture
    def settings(self, recipient: HttpRecipient) -> dict[str, Any]:
        return {"url": recipient.running.base_url, "path": "/messages"}

    @pytest.fixture
    def unreachable_settings(self) -> dict[str, Any]:
        return {"url": f"http://127.0.0.1:{free_port()}", "path": "/messages"}


@pytest.fixture
def running() -> Iterator[RunningRecipient]:
    with serve_rest_recipient() as running:
        yield running


def build(settings: dict[str, Any]) -> RestAdapter:
    adapter = registry.build("rest", settings, agency_code="H22", timeout=2.0)
    assert isinstance(adapter, RestAdapter)
    return adapter


def test_delivery_carries_payload_and_lgsp_headers(running: RunningRecipient) -> None:
    adapter = build(
        {"url": running.base_url + "/api/", "path": "/v2/messages", "headers": {"X-Agency": "H22"}}
    )
    message = envelope({"MaHoSo": "000.00.12.H02-261126-0007"}, correlation_id="corr-1")
    result = adapter.deliver(message)
    assert result.status_code == 201
    assert result.reply is not None and message.message_id in result.reply
    [seen] = running.recipient.requests
    assert (seen.method, seen.path, seen.body) == ("POST", "/api/v2/messages", message.payload)
    headers = seen.headers
    assert headers["idempotency-key"] == message.message_id
    assert headers["x-lgsp-message-id"] == message.message_id
    assert headers["x-lgsp-message-type"] == message.type
    assert headers["x-lgsp-sender"] == message.sender
    assert headers["x-lgsp-correlation-id"] == "corr-1"
    assert headers["x-agency"] == "H22"
    assert headers["content-type"] == "application/json"
    adapter.deliver(envelope({"n": 2}))
    assert "x-lgsp-correlation-id" not in running.recipient.requests[-1].headers


def test_retry_after_is_kept_on_the_error(running: RunningRecipient) -> None:
    adapter = build({"url": running.base_url})
    running.recipient.script("unavailable")
    with pytest.raises(RetriableError) as unavailable:
        adapter.deliver(envelope({}))
    assert (unavailable.value.status_code, unavailable.value.retry_after) == (503, 5.0)
    running.recipient.script("throttle")
    with pytest.raises(RetriableError) as throttled:
        adapter.deliver(envelope({}))
    assert (throttled.value.status_code, throttled.value.retry_after) == (429, 3.0)
    running.recipient.script("error")
    with pytest.raises(RetriableError) as failed:
        adapter.deliver(envelope({}))
    assert failed.value.retry_after is None
    assert failed.value.reply is not None and "internal error" in failed.value.reply


def test_parse_retry_after() -> None:
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert (parse_retry_after("Fri, 01 Jan 2100 00:00:00 GMT") or 0) > 10**9
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_bearer_token_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LGSP_TEST_RECIPIENT_TOKEN", "t0ken")
    with serve_rest_recipient(RestRecipient(token="t0ken")) as running:
        auth = {"type": "bearer", "token": "${LGSP_TEST_RECIPIENT_TOKEN}"}
        message = envelope({})
        build({"url": running.base_url, "auth": auth}).deliver(message)
        assert running.recipient.received_ids() == [message.message_id]
        wrong = build({"url": running.base_url, "auth": {"type": "bearer", "token": "nope"}})
        with pytest.raises(PermanentError) as caught:
            wrong.deliver(envelope({}))
        assert caught.value.status_code == 401


def test_basic_and_header_auth(running: RunningRecipient) -> None:
    build(
        {"url": running.base_url, "auth": {"type": "basic", "username": "u", "password": "p"}}
    ).deliver(envelope({}))
    assert running.recipient.requests[-1].headers["authorization"] == "Basic dTpw"
    build(
        {"url": running.base_url, "auth": {"type": "header", "name": "access_token", "value": "k"}}
    ).deliver(envelope({}))
    assert running.recipient.requests[-1].headers["access_token"] == "k"


@pytest.mark.parametrize("client_auth", ["client_secret_basic", "client_secret_post"])
def test_oauth2_client_credentials_cached_and_refreshed(client_auth: str) -> None:
    recipient = RestRecipient(client_id="lgsp", client_secret="s3cret")
    with serve_rest_recipient(recipient) as running:
        auth = {
            "type": "oauth2",
            "token_url": running.base_url + "/oauth/token",
            "client_id": "lgsp",
            "client_secret": "s3cret",
            "scope": "messages:receive",
            "client_auth": client_auth,
        }
        adapter = build({"url": running.base_url, "auth": auth})
        for _ in range(3):
            adapter.deliver(envelope({}))
        assert len(recipient.issued_tokens) == 1
        recipient.revoke_tokens()  # the provider restarted: the cached token is refused once
        adapter.deliver(envelope({}))
        assert len(recipient.issued_tokens) == 1  # a fresh one, issued after the revocation
        assert len(recipient.received_ids()) == 4


def test_oauth2_refused_credentials_are_retriable() -> None:
    recipient = RestRecipient(client_id="lgsp", client_secret="s3cret")
    with serve_rest_recipient(recipient) as running:
        auth = {
            "type": "oauth2",
            "token_url": running.base_url + "/oauth/token",
            "client_id": "lgsp",
            "client_secret": "wrong",
        }
        with pytest.raises(RetriableError) as caught:
            build({"url": running.base_url, "auth": auth}).deliver(envelope({}))
        assert "token endpoint" in caught.value.reason
        assert recipient.received_ids() == []


def test_call_fills_path_and_parses_json(running: RunningRecipient) -> None:
    adapter = build({"url": running.base_url})
    request = CallRequest(
        service="gcn",
        operation={"method": "GET", "path": "/land/certificates/{SoPhatHanh}"},
        payload=None,
        caller="000.00.12.H02",
        request_id="req-1",
        query={"SoPhatHanh": "CY 000123"},
    )
    result = adapter.call(request)
    assert result.status_code == 200
    assert result.body == {"SoPhatHanh": "CY 000123", "DienTich": 152.5, "ThuaDatSo": "125"}
    assert [c.direction for c in result.captures] == ["request", "response"]
    seen = running.recipient.requests[-1]
    assert seen.path == "/land/certificates/CY 000123"
    assert seen.query == {}
    assert seen.headers["x-lgsp-request-id"] == "req-1"


def test_call_passes_subpath_query_and_body(running: RunningRecipient) -> None:
    adapter = build({"url": running.base_url})
    request = CallRequest(
        service="echo",
        operation={"path": "/echo"},
        payload={"q": 1},
        caller="H02",
        request_id="req-2",
        path="/more",
        query={"page": "2"},
    )
    result = adapter.call(request)
    assert result.status_code == 201
    seen = running.recipient.requests[-1]
    assert (seen.method, seen.path, seen.query, seen.body) == (
        "POST",
        "/echo/more",
        {"page": "2"},
        {"q": 1},
    )


def test_call_errors_carry_status_and_captures(running: RunningRecipient) -> None:
    adapter = build({"url": running.base_url})
    request = CallRequest(
        "gcn",
        {"method": "GET", "path": "/land/certificates/{s}"},
        None,
        "H02",
        "r",
        query={"s": "none"},
    )
    with pytest.raises(PermanentError) as caught:
        adapter.call(request)
    assert caught.value.status_code == 404
    assert caught.value.captures and caught.value.captures[-1].direction == "response"
    with pytest.raises(PermanentError, match="no value for"):
        adapter.call(CallRequest("gcn", {"path": "/x/{missing}"}, None, "H02", "r"))


def test_oversized_reply_refused_and_pool_stays_usable(running: RunningRecipient) -> None:
    adapter = build({"url": running.base_url, "max_reply_bytes": 1024})
    big = CallRequest("echo", {"method": "GET"}, None, "H02", "r", query={"q": "x" * 4000})
    with pytest.raises(PermanentError, match="larger than"):
        adapter.call(big)
    small = CallRequest("echo", {"method": "GET"}, None, "H02", "r", query={"q": "x"})
    assert adapter.call(small).body["query"] == {"q": "x"}


def test_timeout_names_the_limit(running: RunningRecipient) -> None:
    adapter = registry.build("rest", {"url": running.base_url}, agency_code="H22", timeout=0.3)
    running.recipient.script("slow", delay=3.0)
    with pytest.raises(UpstreamTimeout, match=r"0\.3s"):
        adapter.deliver(envelope({}))
