"""`lgsp keys`: the platform's signing keys."""

from __future__ import annotations

from typing import Annotated

import typer

from lgsp.auth.keys import KeyStore, Purpose
from lgsp.cli.common import ActorOption, cli_actor, console, print_json, session_factory, settings
from lgsp.kit.db import transaction
from lgsp.messagelog.service import append as log_append

app = typer.Typer(help="Token and log signing keys.", no_args_is_help=True)


@app.command("rotate")
def rotate(
    purpose: Annotated[
        Purpose, typer.Option(help="token: the key that signs access tokens; seal: log batches")
    ] = "token",
    actor: ActorOption = None,
) -> None:
    """Make a new signing key active for one purpose. An old token key stays published in the
    JWKS until the tokens it signed have expired, so nothing in flight breaks; old seal keys
    keep verifying the batches they sealed."""
    sessions = session_factory()
    kid = KeyStore(sessions, settings(), purpose=purpose).rotate()
    with transaction(sessions) as session:
        log_append(
            session,
            "admin.key_rotated",
            actor=cli_actor(actor),
            detail={"kid": kid, "purpose": purpose},
        )
    console.print(f"active {purpose} signing key: {kid}")


@app.command("jwks")
def jwks(
    as_json: Annotated[bool, typer.Option("--json")] = True,
) -> None:
    """Print the published public keys (RFC 7517 JWK Set)."""
    print_json(KeyStore(session_factory(), settings()).jwks())
