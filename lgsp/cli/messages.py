"""`lgsp messages`: retention of message bodies."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer

from lgsp.admin import service
from lgsp.cli.common import ActorOption, cli_actor, console, session_factory
from lgsp.kit.timeutil import utcnow

app = typer.Typer(help="Messages: retention.", no_args_is_help=True)


@app.command("purge")
def purge(
    older_than_days: Annotated[int, typer.Option(min=1, help="accepted more than N days ago")],
    actor: ActorOption = None,
) -> None:
    """Drop the bodies of finished messages older than N days; metadata, hashes and the log
    stay. The purge is itself an entry in the log."""
    before = utcnow() - timedelta(days=older_than_days)
    count = service.purge_payloads(session_factory(), before=before, actor=cli_actor(actor))
    console.print(f"purged the bodies of {count} message(s) accepted before {before:%Y-%m-%d}")
