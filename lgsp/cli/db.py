"""`lgsp db`: schema migrations."""

from __future__ import annotations

import typer

from lgsp.cli.common import console, settings
from lgsp.kit import migrate

app = typer.Typer(help="Database schema.", no_args_is_help=True)


@app.command("upgrade")
def upgrade(revision: str = "head") -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    migrate.upgrade(settings().database_url, revision)
    console.print("database schema is up to date")


@app.command("revision")
def revision(message: str) -> None:
    """Generate a migration from the models (for developers)."""
    migrate.revision(settings().database_url, message)
