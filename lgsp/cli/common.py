"""Helpers shared by CLI commands: settings, a database session factory, output."""

from __future__ import annotations

import getpass
import json
import sys
from typing import Annotated, Any

import typer
from rich.console import Console
from sqlalchemy.orm import Session, sessionmaker

from lgsp.kit.db import make_engine, make_sessionmaker
from lgsp.settings import Settings, get_settings

console = Console()
err_console = Console(stderr=True)


def settings() -> Settings:
    return get_settings()


def session_factory(s: Settings | None = None) -> sessionmaker[Session]:
    s = s or get_settings()
    return make_sessionmaker(make_engine(s.database_url, pool_size=2))


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False, indent=2, default=str) + "\n")


ActorOption = Annotated[
    str | None,
    typer.Option(help="who is acting (a name); logged together with the OS user"),
]


def cli_actor(claimed: str | None = None) -> str:
    """Who ran an admin command, as the log records it. The OS user is what the machine knows;
    a name given with --actor is a claim the platform cannot check, so it is recorded next to
    the OS user, never instead of it: ``auditor-7 (os user lgsp)``."""
    user = getpass.getuser()
    return f"{claimed} (os user {user})" if claimed and claimed != user else user
