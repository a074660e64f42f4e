"""``lgsp config``: check and apply the declarative province configuration (config/)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from lgsp_adapters.registry import validate_settings

from lgsp.admin import province
from lgsp.cli.common import cli_actor, console, err_console, session_factory, settings
from lgsp.directory.config import (
    ConfigError,
    ConfigProblem,
    ProvinceConfig,
    load_config,
)
from lgsp.validation.catalogue import SchemaCatalogue

app = typer.Typer(
    help="Province configuration: agencies, endpoints, routes, grants, services, clients.",
    no_args_is_help=True,
)

DirArg = Annotated[
    Path | None,
    typer.Argument(help="Configuration folder (default: LGSP_CONFIG_DIR, the sample province)"),
]


def _schema_ids(problems: list[ConfigProblem]) -> set[str] | None:
    """The schema catalogue's ids, or None (and a problem) when the catalogue does not load."""
    schemas_dir = settings().schemas_dir
    try:
        catalogue = SchemaCatalogue(schemas_dir)
        return set(catalogue.ids()) | set(catalogue.contract_ids())
    except Exception as exc:  # noqa: BLE001 - a broken schema folder is reported, not raised
        problems.append(ConfigProblem(str(schemas_dir), "", f"schemas failed to load: {exc}"))
        return None


def _checked(directory: Path) -> ProvinceConfig:
    """The configuration at ``directory``. When it has problems, they are the command's report
    (every one on stdout) and :class:`ConfigError` ends the command."""
    problems: list[ConfigProblem] = []
    schema_ids = _schema_ids(problems)
    cfg = None
    try:
        cfg = load_config(
            directory,
            schema_ids=schema_ids,
            adapter_validator=validate_settings,
            development=settings().env == "development",
        )
    except ConfigError as exc:
        problems += exc.problems
    if problems or cfg is None:
        for problem in problems:
            console.print(str(problem), markup=False, highlight=False, soft_wrap=True)
        console.print(f"{len(problems)} problem(s)", markup=False)
        raise ConfigError(problems, directory=directory)
    return cfg


@app.command()
def check(directory: DirArg = None) -> None:
    """Check the configuration; print every problem as ``file: key: reason``."""
    directory = directory or settings().config_dir
    cfg = _checked(directory)
    skipped = len(cfg.missing_secrets)
    console.print(
        f"{directory}: ok ({cfg.province.code}): {len(cfg.agencies)} agencies, "
        f"{len(cfg.message_types)} message types, {len(cfg.routes)} routes, "
        f"{len(cfg.grant_rows())} grants, {len(cfg.services)} services, "
        f"{len(cfg.clients)} clients"
        + (f" ({skipped} without their secret variable set)" if skipped else ""),
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


@app.command()
def apply(
    directory: DirArg = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would change; change nothing")
    ] = False,
) -> None:
    """Check, then make the database match the configuration in one transaction."""
    directory = directory or settings().config_dir
    try:
        cfg = _checked(directory)
    except ConfigError:
        console.print("nothing applied", markup=False)
        raise
    report = province.apply(
        session_factory(),
        cfg,
        actor=cli_actor(),
        dry_run=dry_run,
        heartbeat_seconds=settings().heartbeat_seconds,
    )
    for warning in report.warnings:
        err_console.print(f"warning: {warning}", markup=False, highlight=False, soft_wrap=True)
    for line in report.lines():
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    verb = "would change" if dry_run else "changed"
    console.print(f"{report.changes} row(s) {verb}", markup=False)
