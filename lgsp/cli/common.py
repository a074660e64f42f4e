"""Helpers shared by CLI commands: settings, a database session factory, output, and the one
error handler of the command line (:func:`failure`)."""

from __future__ import annotations

import getpass
import json
import os
import sys
from typing import Annotated, Any

import typer
from rich.console import Console
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from lgsp.directory.config import development_environment
from lgsp.kit.db import make_engine, make_sessionmaker
from lgsp.kit.errors import LGSPError, Misconfigured, Unavailable
from lgsp.settings import Settings, get_settings

console = Console()
err_console = Console(stderr=True)


def settings() -> Settings:
    """The platform's settings. In development, variables the configuration's development
    overlay (``config/dev/environment.yaml``: the simulators' demo accounts) names and the
    environment leaves unset are filled in first, so `lgsp dev` and every command agree."""
    s = get_settings()
    if s.env == "development":
        for name, value in development_environment(s.config_dir).items():
            os.environ.setdefault(name, value)
    return s


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


def _database_error(exc: DBAPIError) -> LGSPError:
    """A database failure at the command line's boundary, as a problem of the error tree."""
    lines = str(exc.orig or exc).strip().splitlines()
    reason = lines[0] if lines else type(exc).__name__
    if "no such table" in reason or "does not exist" in reason:
        return Misconfigured(
            f"the database has no platform schema; run `lgsp db upgrade` ({reason})"
        )
    if isinstance(exc, OperationalError | InterfaceError):
        return Unavailable(f"the database is unreachable (LGSP_DATABASE_URL): {reason}")
    return LGSPError(f"the database refused the change: {reason}")


def failure(exc: BaseException) -> tuple[str, int]:
    """The line to print on stderr and the exit status for a command that failed with
    ``exc``. :func:`lgsp.cli.main` calls it for every command: platform errors print their
    detail, usage errors their message, anything else its type and message; never a
    traceback, always one line."""
    status = 1
    # Usage errors (typer's copy of click raises them as TyperException).
    if isinstance(exc, typer.TyperException):
        text, status = exc.format_message(), exc.exit_code
        context = getattr(exc, "ctx", None)
        if not text:  # no command given: the help is already on stdout
            text = "say which command (the list is above)"
        elif context is not None:
            text += f" (see `{context.command_path} --help`)"
    elif isinstance(exc, typer.Abort | KeyboardInterrupt):
        text, status = "interrupted", 130
    elif isinstance(exc, DBAPIError):
        text = _database_error(exc).detail
    elif isinstance(exc, LGSPError):
        text = exc.detail
    else:
        text = f"unexpected {type(exc).__name__}: {exc}"
    return "error: " + " ".join(text.split()), status
