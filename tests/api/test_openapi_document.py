"""The OpenAPI document tells the truth about errors, bodies, answers, scopes and headers
(the contract test, tests/api/test_contract.py, checks it against the running platform)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lgsp.app import create_app
from tests.support.platform import make_settings

ISSUER = "https://lgsp.example.gov.vn"
PROBLEM_REF = "#/components/schemas/Problem"
# The OAuth endpoints answer RFC 6749 errors (JSON), not problem details, for 400 and 401.
OAUTH = ("/oauth/token", "/token", "/oauth/introspect", "/oauth/revoke")


@pytest.fixture(scope="module")
def doc(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    db = Path(tmp_path_factory.mktemp("openapi")) / "lgsp.db"
    document: dict[str, Any] = create_app(make_settings(f"sqlite:///{db}", ISSUER)).openapi()
    return document


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, m, op) for path, item in doc["paths"].items() for m, op in item.items()]


def test_no_fastapi_validation_error_schema_anywhere(doc: dict[str, Any]) -> None:
    text = json.dumps(doc)
    assert "HTTPValidationError" not in text and '"ValidationError"' not in text
    problem = doc["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail", "instance", "errors"} <= set(problem["properties"])
    error = doc["components"]["schemas"]["ProblemError"]
    assert {"pointer", "keyword", "message"} <= set(error["properties"])


def test_every_error_is_a_problem_and_every_api_operation_has_its_errors(
    doc: dict[str, Any],
) -> None:
    for path, method, op in operations(doc):
        responses = op["responses"]
        for status, response in responses.items():
            assert response["headers"]["X-Request-Id"], (path, method, status)
            if int(status) < 400 or (path in OAUTH and status in ("400", "401")):
                continue
            if path == "/readyz":
                continue  # answers its own JSON when the database is down
            schema = response["content"]["application/problem+json"]["schema"]
            assert schema == {"$ref": PROBLEM_REF}, (path, method, status)
        if path.startswith(("/v1/", "/oauth/", "/token")):
            assert "503" in responses, (path, method)
        if op.get("security") and any("client_credentials" in r for r in op["security"]):
            assert "401" in responses, (path, method)
        if "requestBody" in op:
            assert {"413", "415"} <= set(responses), (path, method)
        if any(p["in"] in ("path", "query") for p in op.get("parameters", [])):
            assert "422" in responses, (path, method)
    expected = {
        ("/v1/messages", "post"): {"400", "403", "409", "413", "415", "422"},
        ("/v1/messages/{message_id}", "get"): {"404"},
        ("/v1/inbox", "get"): {"400", "422"},
        ("/v1/schemas/{type_name}", "get"): {"404"},
        ("/v1/schemas/{type_name}/validate", "post"): {"400", "404", "422"},
        ("/v1/services/{provider}/{service}", "post"): {"400", "403", "404", "502", "504"},
        ("/v1/admin/dead-letters/{delivery_id}", "get"): {"403", "404"},
    }
    for (path, method), statuses in expected.items():
        assert statuses <= set(doc["paths"][path][method]["responses"]), (path, method)


def test_request_bodies_and_answers_are_documented(doc: dict[str, Any]) -> None:
    paths = doc["paths"]
    for path in OAUTH:
        form = paths[path]["post"]["requestBody"]["content"]["application/x-www-form-urlencoded"]
        assert form["schema"]["properties"], path
    token = paths["/oauth/token"]["post"]
    assert (
        token["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"][
            "properties"
        ]["grant_type"]["const"]
        == "client_credentials"
    )
    assert paths["/oauth/token"]["post"]["responses"]["200"]["content"]["application/json"]
    for path, method in [
        ("/v1/schemas/{type_name}/validate", "post"),
        ("/v1/services/{provider}/{service}", "post"),
        ("/v1/services/{provider}/{service}/{path}", "post"),
        ("/v1/admin/dead-letters/replay", "post"),
        ("/v1/messages", "post"),
    ]:
        assert "application/json" in paths[path][method]["requestBody"]["content"], path
    for path, method, op in operations(doc):
        success = next(s for s in op["responses"] if s.startswith("2"))
        assert op["responses"][success].get("content"), (path, method)
    metrics = paths["/metrics"]["get"]["responses"]["200"]["content"]
    assert list(metrics) == ["text/plain"]
    sent = paths["/v1/messages"]["post"]["responses"]["202"]
    assert {"Location", "Idempotent-Replayed", "X-Request-Id"} <= set(sent["headers"])
    assert "Retry-After" in paths["/v1/inbox"]["get"]["responses"]["503"]["headers"]
    schemas = doc["components"]["schemas"]
    state = schemas["RecipientStatus"]["properties"]["state"]
    assert "$ref" in state or "enum" in state
    assert set(schemas["DeliveryState"]["enum"]) >= {"pending", "delivered", "dead", "acked"}
    assert "enum" in schemas["MessageView"]["properties"]["status"]
    assert doc["servers"] == [{"url": ISSUER}]


def test_each_operation_names_the_scopes_it_needs(doc: dict[str, Any]) -> None:
    def scopes(path: str, method: str) -> list[list[str]]:
        return [r["client_credentials"] for r in doc["paths"][path][method]["security"]]

    assert scopes("/v1/messages", "post") == [["messages:send"]]
    # Any one of several scopes: one requirement each.
    assert scopes("/v1/messages/{message_id}", "get") == [["messages:read"], ["audit"]]
    assert scopes("/v1/inbox", "get") == [["inbox:read"]]
    assert scopes("/v1/services/{provider}/{service}", "post") == [["services:call"]]
    assert scopes("/v1/admin/dead-letters", "get") == [["admin"]]
    assert ["audit"] in scopes("/v1/audit/log", "get")
    assert scopes("/v1/agencies", "get") == [[]]  # any valid token
    for path, method, op in operations(doc):
        if path.startswith("/v1/") and "security" in op:
            for requirement in op["security"]:
                assert set(requirement) == {"client_credentials"}, (path, method)
                assert len(requirement["client_credentials"]) <= 1, (path, method)
    flows = doc["components"]["securitySchemes"]["client_credentials"]["flows"]
    assert "messages:send" in flows["clientCredentials"]["scopes"]
