"""OAuth 2.0 as agency systems use it: a client made with the CLI, tokens through authlib's own
client, verified with an independent JOSE library (PyJWT), rotation, revocation, introspection."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import jwt as pyjwt
import pytest
from authlib.integrations.httpx_client import OAuth2Client

from tests.support.cli import run_cli
from tests.support.platform import ONE_STOP, LivePlatform, live_platform


@pytest.fixture
def live(database_url: str) -> Iterator[LivePlatform]:
    with live_platform(database_url) as live:
        yield live


def cli_client(live: LivePlatform, agency: str, scope: str) -> dict[str, str]:
    result = run_cli(
        live.settings, "clients", "create", agency, "--scope", scope, "--json", check=True
    )
    created: dict[str, str] = json.loads(result.stdout)
    assert created["client_id"] and created["client_secret"]
    return created


def verify_with_pyjwt(live: LivePlatform, token: str) -> dict[str, object]:
    jwks = httpx.get(live.url + "/.well-known/jwks.json").json()
    kid = pyjwt.get_unverified_header(token)["kid"]
    jwk = next(k for k in jwks["keys"] if k["kid"] == kid)
    key = pyjwt.PyJWK(jwk)
    claims: dict[str, object] = pyjwt.decode(
        token,
        key.key,
        algorithms=[jwk["alg"]],
        audience=live.settings.audience,
        issuer=live.settings.issuer,
    )
    return claims


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_cli_client_gets_a_token_with_authlib_and_it_verifies_independently(
    live: LivePlatform, method: str
) -> None:
    created = cli_client(live, ONE_STOP, "messages:send messages:read")
    with OAuth2Client(
        created["client_id"], created["client_secret"], token_endpoint_auth_method=method
    ) as oauth:
        token = oauth.fetch_token(live.url + "/oauth/token", grant_type="client_credentials")
    assert token["token_type"].lower() == "bearer"
    assert token["expires_in"] == live.settings.access_token_ttl_seconds
    assert set(token["scope"].split()) == {"messages:send", "messages:read"}
    header = pyjwt.get_unverified_header(token["access_token"])
    assert header["typ"] == "at+jwt" and header["alg"] == "ES256"
    claims = verify_with_pyjwt(live, token["access_token"])
    assert claims["client_id"] == created["client_id"]
    assert claims["sub"] == created["client_id"]
    assert claims["agency"] == ONE_STOP


def test_token_alias_and_metadata(live: LivePlatform) -> None:
    created = cli_client(live, ONE_STOP, "messages:send")
    r = httpx.post(
        live.url + "/token",
        data={"grant_type": "client_credentials"},
        auth=(created["client_id"], created["client_secret"]),
    )
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    verify_with_pyjwt(live, r.json()["access_token"])
    meta = httpx.get(live.url + "/.well-known/oauth-authorization-server").json()
    assert meta["issuer"] == live.settings.issuer
    assert meta["token_endpoint"] == live.url + "/oauth/token"
    assert set(meta["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic",
        "client_secret_post",
    }


def test_bad_credentials_and_scopes_are_refused(live: LivePlatform) -> None:
    created = cli_client(live, ONE_STOP, "messages:send")
    url = live.url + "/oauth/token"
    wrong = httpx.post(
        url,
        data={"grant_type": "client_credentials"},
        auth=(created["client_id"], "not-the-secret"),
    )
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    unknown = httpx.post(url, data={"grant_type": "client_credentials"}, auth=("nobody", "x"))
    assert unknown.status_code == 401
    too_much = httpx.post(
        url,
        data={"grant_type": "client_credentials", "scope": "admin"},
        auth=(created["client_id"], created["client_secret"]),
    )
    assert too_much.status_code == 400 and too_much.json()["error"] == "invalid_scope"
    grant = httpx.post(
        url, data={"grant_type": "password"}, auth=(created["client_id"], created["client_secret"])
    )
    assert grant.status_code == 400 and grant.json()["error"] == "unsupported_grant_type"
    json_body = httpx.post(
        url,
        json={"grant_type": "client_credentials"},
        auth=(created["client_id"], created["client_secret"]),
    )
    assert json_body.status_code == 415


def test_rotated_secret_replaces_the_old_one(live: LivePlatform) -> None:
    created = cli_client(live, ONE_STOP, "messages:send")
    rotated = json.loads(
        run_cli(
            live.settings, "clients", "rotate-secret", created["client_id"], "--json", check=True
        ).stdout
    )
    url = live.url + "/oauth/token"
    old = httpx.post(
        url,
        data={"grant_type": "client_credentials"},
        auth=(created["client_id"], created["client_secret"]),
    )
    new = httpx.post(
        url,
        data={"grant_type": "client_credentials"},
        auth=(created["client_id"], rotated["client_secret"]),
    )
    assert old.status_code == 401
    assert new.status_code == 200


def test_a_disabled_client_enabled_again_gets_new_tokens_not_its_old_ones(
    live: LivePlatform,
) -> None:
    created = cli_client(live, ONE_STOP, "inbox:read")
    url = live.url + "/oauth/token"
    form = {"grant_type": "client_credentials"}
    auth = (created["client_id"], created["client_secret"])
    old = httpx.post(url, data=form, auth=auth).json()["access_token"]
    run_cli(live.settings, "clients", "disable", created["client_id"], check=True)
    assert httpx.post(url, data=form, auth=auth).status_code == 401
    enabled = run_cli(live.settings, "clients", "enable", created["client_id"], check=True)
    assert f"enabled {created['client_id']}" in enabled.stdout
    new = httpx.post(url, data=form, auth=auth)
    assert new.status_code == 200
    time.sleep(live.settings.token_state_refresh_seconds + 0.1)
    inbox = live.url + "/v1/inbox"
    fresh = {"Authorization": f"Bearer {new.json()['access_token']}"}
    assert httpx.get(inbox, headers=fresh).status_code == 200
    assert httpx.get(inbox, headers={"Authorization": f"Bearer {old}"}).status_code == 401
    unknown = run_cli(live.settings, "clients", "enable", "no-such-client")
    assert unknown.returncode != 0 and "no client 'no-such-client'" in unknown.stderr


def test_key_rotation_keeps_old_tokens_valid_and_signs_new_ones_with_the_new_key(
    live: LivePlatform,
) -> None:
    old_token = live.token(ONE_STOP, "messages:read")
    old_kid = pyjwt.get_unverified_header(old_token)["kid"]
    run_cli(live.settings, "keys", "rotate", check=True)
    live.platform.keys.reload()
    jwks = httpx.get(live.url + "/.well-known/jwks.json").json()
    assert {k["kid"] for k in jwks["keys"]} >= {old_kid}
    assert len(jwks["keys"]) == 2
    live.clients.clear()
    new_token = live.token(ONE_STOP, "messages:read")
    new_kid = pyjwt.get_unverified_header(new_token)["kid"]
    assert new_kid != old_kid
    for token in (old_token, new_token):
        verify_with_pyjwt(live, token)
        r = httpx.get(live.url + "/v1/inbox", headers={"Authorization": f"Bearer {token}"})
        # messages:read alone is not enough for the inbox: the token was accepted, the scope not
        assert r.status_code == 403, r.text
        assert r.json()["type"].endswith("insufficient-scope")


def test_revoked_token_is_refused_and_introspects_inactive(live: LivePlatform) -> None:
    client_id, secret = live.new_client(ONE_STOP, "messages:send messages:read")
    token = httpx.post(
        live.url + "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret),
    ).json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    assert httpx.get(live.url + "/v1/agencies", headers=auth).status_code == 200
    active = httpx.post(
        live.url + "/oauth/introspect", data={"token": token}, auth=(client_id, secret)
    ).json()
    assert active["active"] is True and active["client_id"] == client_id
    r = httpx.post(live.url + "/oauth/revoke", data={"token": token}, auth=(client_id, secret))
    assert r.status_code == 200
    refused = httpx.get(live.url + "/v1/agencies", headers=auth)
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    assert "revoked" in refused.json()["detail"]
    inactive = httpx.post(
        live.url + "/oauth/introspect", data={"token": token}, auth=(client_id, secret)
    ).json()
    assert inactive == {"active": False}


def test_another_client_cannot_revoke_or_introspect_my_token(live: LivePlatform) -> None:
    mine = live.new_client(ONE_STOP, "messages:send")
    other = live.new_client(ONE_STOP, "messages:send")
    token = httpx.post(
        live.url + "/oauth/token", data={"grant_type": "client_credentials"}, auth=mine
    ).json()["access_token"]
    seen = httpx.post(live.url + "/oauth/introspect", data={"token": token}, auth=other).json()
    assert seen == {"active": False}
    httpx.post(live.url + "/oauth/revoke", data={"token": token}, auth=other)
    r = httpx.get(live.url + "/v1/agencies", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200
