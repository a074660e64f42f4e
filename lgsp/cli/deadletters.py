"""`lgsp dead-letters`: list, show and replay deliveries that were dead-lettered."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import typer

from lgsp.admin import service
from lgsp.cli.common import ActorOption, cli_actor, console, print_json, session_factory
from lgsp.cli.log import ReasonOption, cli_reader, reason_given
from lgsp.kit.errors import NotFound
from lgsp.messagelog import reading

app = typer.Typer(help="Dead-lettered deliveries.", no_args_is_help=True)


@app.command("list")
def list_(
    recipient: Annotated[str | None, typer.Option(help="only this recipient's")] = None,
    limit: int = 100,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Dead letters, oldest first, with the reason each one died."""
    items = service.list_dead(session_factory(), recipient=recipient, limit=limit)
    # The reason may quote what the recipient answered: personal data stays masked here.
    views = [reading.shown(asdict(i), None) for i in items]
    if as_json:
        print_json(views)
        return
    if not views:
        console.print("no dead letters")
    for v in views:
        console.print(
            f"[bold]{v['delivery_id']}[/bold] {v['type']} {v['sender']} -> {v['recipient']} "
            f"(message {v['message_id']}, {v['attempts']} attempts): {v['reason']}"
        )


@app.command("show")
def show(
    delivery_id: int,
    unmask: Annotated[
        bool, typer.Option("--unmask", help="show personal data (needs --reason; logged)")
    ] = False,
    reason: ReasonOption = None,
    actor: ActorOption = None,
) -> None:
    """One dead letter with its message payload, personal data masked unless --unmask."""
    why = reason_given(unmask, reason)
    sessions = session_factory()
    found = service.get_dead(sessions, delivery_id)
    if found is None:
        raise NotFound(f"no dead letter {delivery_id}")
    view, payload = found
    unmasked = None
    if why is not None:
        unmasked = reading.unmask(
            sessions,
            cli_reader(actor),
            why,
            what="dead-letter",
            message_id=view.message_id,
            delivery_id=delivery_id,
        )
    print_json(reading.shown({**asdict(view), "payload": payload}, unmasked))


@app.command("replay")
def replay(
    delivery_ids: Annotated[list[int] | None, typer.Argument(help="delivery ids")] = None,
    recipient: Annotated[str | None, typer.Option(help="every dead letter of a recipient")] = None,
    message: Annotated[list[str] | None, typer.Option(help="by message id")] = None,
    all_: Annotated[bool, typer.Option("--all", help="every dead letter")] = False,
    actor: ActorOption = None,
) -> None:
    """Deliver dead letters again (by id, by message, by recipient, or all)."""
    if not (delivery_ids or recipient or message or all_):
        raise typer.BadParameter("say what to replay: ids, --message, --recipient or --all")
    ids = service.replay(
        session_factory(),
        actor=cli_actor(actor),
        delivery_ids=delivery_ids or [],
        message_ids=message or [],
        recipient=recipient,
        everything=all_,
    )
    console.print(f"replayed {len(ids)} deliver{'y' if len(ids) == 1 else 'ies'}: {ids}")
