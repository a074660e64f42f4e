"""`lgsp dead-letters`: list, show and replay deliveries that were dead-lettered."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import typer

from lgsp.admin import service
from lgsp.cli.common import console, print_json, session_factory
from lgsp.kit import jsonutil
from lgsp.kit.db import transaction
from lgsp.kit.errors import NotFound

app = typer.Typer(help="Dead-lettered deliveries.", no_args_is_help=True)


@app.command("list")
def list_(
    recipient: Annotated[str | None, typer.Option(help="only this recipient's")] = None,
    limit: int = 100,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Dead letters, oldest first, with the reason each one died."""
    with session_factory()() as session:
        items = service.list_dead(session, recipient=recipient, limit=limit)
    if as_json:
        print_json([asdict(i) for i in items])
        return
    if not items:
        console.print("no dead letters")
    for i in items:
        console.print(
            f"[bold]{i.delivery_id}[/bold] {i.type} {i.sender} -> {i.recipient} "
            f"(message {i.message_id}, {i.attempts} attempts): {i.reason}"
        )


@app.command("show")
def show(delivery_id: int) -> None:
    """One dead letter with its message payload."""
    with session_factory()() as session:
        found = service.get_dead(session, delivery_id)
    if found is None:
        raise NotFound(f"no dead letter {delivery_id}")
    view, message = found
    print_json({**asdict(view), "payload": jsonutil.loads(message.payload or "null")})


@app.command("replay")
def replay(
    delivery_ids: Annotated[list[int] | None, typer.Argument(help="delivery ids")] = None,
    recipient: Annotated[str | None, typer.Option(help="every dead letter of a recipient")] = None,
    message: Annotated[list[str] | None, typer.Option(help="by message id")] = None,
    all_: Annotated[bool, typer.Option("--all", help="every dead letter")] = False,
) -> None:
    """Deliver dead letters again (by id, by message, by recipient, or all)."""
    if not (delivery_ids or recipient or message or all_):
        raise typer.BadParameter("say what to replay: ids, --message, --recipient or --all")
    with transaction(session_factory()) as session:
        ids = service.replay(
            session,
            actor="cli",
            delivery_ids=delivery_ids or [],
            message_ids=message or [],
            recipient=recipient,
            everything=all_,
        )
    console.print(f"replayed {len(ids)} deliver{'y' if len(ids) == 1 else 'ies'}: {ids}")
