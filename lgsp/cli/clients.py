"""`lgsp clients`: OAuth clients of agency systems."""

from __future__ import annotations

from typing import Annotated

import typer

from lgsp.admin import clients as service
from lgsp.cli.common import ActorOption, cli_actor, console, print_json, session_factory

app = typer.Typer(help="OAuth clients of agency systems.", no_args_is_help=True)


@app.command("create")
def create(
    agency_code: Annotated[str, typer.Argument(help="the agency's electronic identifier code")],
    scope: Annotated[str, typer.Option("--scope", help="space-separated scopes")] = (
        "messages:send messages:read inbox:read"
    ),
    name: Annotated[str, typer.Option(help="a label for the client")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="print a JSON object")] = False,
    actor: ActorOption = None,
) -> None:
    """Create a client for an agency and print its id and secret (shown only this once)."""
    client, secret = service.create_client(
        session_factory(), agency_code, scope.split(), name=name, actor=cli_actor(actor)
    )
    if as_json:
        print_json(
            {
                "client_id": client.client_id,
                "client_secret": secret,
                "agency": agency_code,
                "scope": client.scopes,
            }
        )
        return
    console.print(f"client_id:     {client.client_id}")
    console.print(f"client_secret: {secret}")
    console.print(f"agency:        {agency_code}\nscope:         {client.scopes}")
    console.print("[yellow]The secret is shown only now; store it in the agency system.[/yellow]")


@app.command("rotate-secret")
def rotate_secret(
    client_id: str,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    actor: ActorOption = None,
) -> None:
    """Give a client a new secret; the old one stops working at once."""
    secret = service.rotate_secret(session_factory(), client_id, actor=cli_actor(actor))
    if as_json:
        print_json({"client_id": client_id, "client_secret": secret})
    else:
        console.print(f"client_id:     {client_id}\nclient_secret: {secret}")


@app.command("disable")
def disable(client_id: str, actor: ActorOption = None) -> None:
    """Refuse new tokens to a client; the tokens it already holds stop working too."""
    service.set_disabled(session_factory(), client_id, True, actor=cli_actor(actor))
    console.print(f"disabled {client_id}")


@app.command("enable")
def enable(client_id: str, actor: ActorOption = None) -> None:
    """Let a disabled client get tokens again; the tokens it held before stay void."""
    service.set_disabled(session_factory(), client_id, False, actor=cli_actor(actor))
    console.print(f"enabled {client_id}")


@app.command("list")
def list_(
    agency: Annotated[str | None, typer.Option(help="only this agency's clients")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The registered clients (never their secrets)."""
    rows = [
        {
            "client_id": c.client_id,
            "agency": c.agency_code,
            "scope": c.scopes,
            "name": c.name,
            "created_at": c.created_at.isoformat(),
            "disabled": c.disabled_at is not None,
        }
        for c in service.list_clients(session_factory(), agency)
    ]
    if as_json:
        print_json(rows)
        return
    for r in rows:
        flag = " (disabled)" if r["disabled"] else ""
        console.print(f"{r['client_id']}  {r['agency']}  {r['scope']}{flag}")
