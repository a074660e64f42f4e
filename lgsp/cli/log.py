"""`lgsp log`: seal, verify, export and search the message log."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from sqlalchemy.orm import Session, sessionmaker

from lgsp.cli.common import (
    ActorOption,
    cli_actor,
    console,
    err_console,
    print_json,
    session_factory,
    settings,
)
from lgsp.kit import jsonutil
from lgsp.kit.errors import BadRequest
from lgsp.messagelog import reading
from lgsp.messagelog.export import export_log, verify_export
from lgsp.messagelog.sealer import seal_pending
from lgsp.messagelog.verify import VerifyReport, verify_log

app = typer.Typer(help="The signed, hash-chained message log.", no_args_is_help=True)

JwksOption = Annotated[
    Path | None,
    typer.Option(
        "--jwks",
        help="JWK Set file with the public keys you trust (default: every key the platform "
        "ever created, from its database)",
        exists=True,
        dir_okay=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="machine-readable output")]
ReasonOption = Annotated[
    str | None, typer.Option("--reason", help="why you unmask (required with --unmask; logged)")
]


def cli_reader(actor: str | None) -> reading.Reader:
    """The reader of a CLI command: the OS user, with the name given by --actor alongside."""
    return reading.Reader(cli_actor(actor), "cli", os_user=getpass.getuser())


def reason_given(unmask: bool, reason: str | None) -> str | None:
    try:
        return reading.check_reason(unmask, reason)
    except BadRequest as exc:
        raise typer.BadParameter(exc.detail, param_hint="--reason") from exc


def _read_jwks(path: Path) -> dict[str, Any]:
    try:
        value = jsonutil.loads(path.read_bytes())
    except jsonutil.JSONDecodeError as exc:
        raise typer.BadParameter(f"{path} is not JSON") from exc
    if not isinstance(value, dict) or not isinstance(value.get("keys"), list):
        raise typer.BadParameter(f"{path} is not a JWK Set ({{'keys': [...]}})")
    return value


def _platform_jwks(sessions: sessionmaker[Session]) -> dict[str, Any]:
    from lgsp.auth.keys import KeyStore

    return KeyStore(sessions, settings()).all_public_jwks()


def _finish(report: VerifyReport, as_json: bool) -> None:
    """The report on stdout; a failed verification is also its one line on stderr. With
    ``--json`` stdout is the JSON alone and the notes go to stderr."""
    if as_json:
        print_json(report.to_dict())
        for note in report.notes:
            err_console.print(f"note: {note}", markup=False, highlight=False, soft_wrap=True)
    else:
        for note in report.notes:
            console.print(f"note: {note}", markup=False, highlight=False)
        if report.ok:
            console.print(f"[green]{escape(report.summary())}[/green]")
    if not report.ok:
        err_console.print(f"[red]error: {escape(report.summary())}[/red]", soft_wrap=True)
    raise typer.Exit(0 if report.ok else 1)


@app.command("verify")
def verify(jwks: JwksOption = None, as_json: JsonOption = False) -> None:
    """Verify the live log: signatures, chain, every sealed entry. Exit 1 naming the first bad
    entry or batch."""
    sessions = session_factory()
    keys = _read_jwks(jwks) if jwks else _platform_jwks(sessions)
    _finish(verify_log(sessions, keys), as_json)


@app.command("seal")
def seal(
    max_entries: Annotated[int, typer.Option(min=1)] = 10000,
    settle_seconds: Annotated[float, typer.Option(min=0.0)] = 2.0,
) -> None:
    """Seal the pending entries now (the platform's sealer does this every second)."""
    from lgsp.auth.keys import KeyStore

    sessions = session_factory()
    store = KeyStore(sessions, settings(), purpose="seal")
    store.ensure_active_key()
    sealed = seal_pending(
        sessions, store.sign_compact, max_entries=max_entries, settle_seconds=settle_seconds
    )
    console.print(f"sealed {sealed} entries")


@app.command("export")
def export(
    file: Annotated[Path, typer.Argument(dir_okay=False, writable=True)],
    since_batch: Annotated[int | None, typer.Option(help="first batch to export")] = None,
    jwks: JwksOption = None,
    unmask: Annotated[
        bool, typer.Option("--unmask", help="export personal data (needs --reason; logged)")
    ] = False,
    reason: ReasonOption = None,
    actor: ActorOption = None,
) -> None:
    """Write the sealed log (JSON Lines, public keys in the header) for offline verification.
    Personal identifiers are masked unless --unmask with a --reason, which is logged first."""
    why = reason_given(unmask, reason)
    sessions = session_factory()
    keys = _read_jwks(jwks) if jwks else _platform_jwks(sessions)
    if why is not None:
        reading.unmask(
            sessions, cli_reader(actor), why, what="export", file=str(file), since_batch=since_batch
        )
    batches, entries = export_log(
        sessions, file, jwks=keys, since_batch=since_batch, masked=why is None
    )
    masked = "unmasked" if why is not None else "masked"
    console.print(f"exported {batches} batches, {entries} entries ({masked}) to {file}")


@app.command("verify-export")
def verify_export_cmd(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
    jwks: Annotated[
        Path | None,
        typer.Option("--jwks", help="trusted JWK Set; default: the keys in the file's header"),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Verify an export with nothing but the file (and optionally keys you trust)."""
    _finish(verify_export(file, jwks=_read_jwks(jwks) if jwks else None), as_json)


@app.command("show")
def show(
    message_id: Annotated[str | None, typer.Option("--message-id")] = None,
    correlation: Annotated[
        str | None, typer.Option("--correlation", help="correlation key (dossier code)")
    ] = None,
    kind: Annotated[str | None, typer.Option()] = None,
    agency: Annotated[str | None, typer.Option()] = None,
    limit: Annotated[int, typer.Option(min=1, max=10000)] = 50,
    after_id: Annotated[int | None, typer.Option(help="continue after this entry id")] = None,
    oldest_first: Annotated[bool, typer.Option("--oldest-first")] = False,
    unmask: Annotated[
        bool, typer.Option("--unmask", help="show personal data (needs --reason; logged)")
    ] = False,
    reason: ReasonOption = None,
    actor: ActorOption = None,
    as_json: JsonOption = False,
) -> None:
    """Log entries, newest first; personal identifiers are masked unless --unmask."""
    why = reason_given(unmask, reason)
    views = reading.search(
        session_factory(),
        reading.LogFilters(
            message_id=message_id,
            correlation_key=correlation,
            kind=kind,
            agency=agency,
            after_id=after_id,
        ),
        reader=cli_reader(actor),
        limit=limit,
        newest_first=not oldest_first,
        reason=why,
    )
    if as_json:
        print_json(views)
        return
    if not views:
        console.print("no matching entries")
    for v in views:
        head = (
            f"{v['at']} {v['kind']} actor={v['actor']} agency={v['agency']} "
            f"message={v['message_id']} correlation={v['correlation_key']} batch={v['batch_id']}"
        )
        console.print(f"[bold]{v['id']}[/bold] {escape(head)}", highlight=False)
        console.print("  " + jsonutil.dumps_str(v["detail"]), highlight=False, markup=False)
