"""``lgsp config``: check and apply the declarative province configuration (config/)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from lgsp.cli.common import console, err_console, session_factory, settings
from lgsp.directory.config import (
    ConfigError,
    ConfigProblem,
    ProvinceConfig,
    apply_config,
    load_config,
)
from lgsp.kit.db import transaction

app = typer.Typer(
    help="Province configuration: agencies, endpoints, routes, grants, services, clients.",
    no_args_is_help=True,
)

DirArg = Annotated[
    Path | None,
    typer.Argument(help="Configuration folder (default: LGSP_CONFIG_DIR, the sample province)"),
]


def _schema_ids(problems: list[ConfigProblem]) -> set[str] | None:
    """The schema catalogue's ids, or None when the catalogue is not available in this build."""
    try:
        from lgsp.validation.catalogue import SchemaCatalogue
    except ImportError:
        return None
    schemas_dir = settings().schemas_dir
    try:
        catalogue = SchemaCatalogue(schemas_dir)
        return set(catalogue.ids()) | set(catalogue.contract_ids())
    except Exception as exc:  # noqa: BLE001 - a broken schema folder is reported, not raised
        problems.append(ConfigProblem(str(schemas_dir), "", f"schemas failed to load: {exc}"))
        return None


def _adapter_validator() -> Callable[[str, dict[str, Any]], Any] | None:
    try:
        from lgsp_adapters.registry import validate_settings
    except ImportError:
        return None
    return validate_settings


def _check(directory: Path) -> tuple[ProvinceConfig | None, list[ConfigProblem]]:
    problems: list[ConfigProblem] = []
    schema_ids = _schema_ids(problems)
    validator = _adapter_validator()
    try:
        cfg = load_config(directory, schema_ids=schema_ids, adapter_validator=validator)
    except ConfigError as exc:
        return None, problems + exc.problems
    return (None, problems) if problems else (cfg, [])


def _print_problems(problems: list[ConfigProblem]) -> None:
    for problem in problems:
        err_console.print(str(problem), markup=False, highlight=False, soft_wrap=True)
    err_console.print(f"{len(problems)} problem(s)", markup=False)


@app.command()
def check(directory: DirArg = None) -> None:
    """Check the configuration; print every problem as ``file: key: reason``."""
    directory = directory or settings().config_dir
    cfg, problems = _check(directory)
    if problems or cfg is None:
        _print_problems(problems)
        raise typer.Exit(1)
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
    cfg, problems = _check(directory)
    if problems or cfg is None:
        _print_problems(problems)
        err_console.print("nothing applied", markup=False)
        raise typer.Exit(1)
    factory = session_factory()
    if dry_run:
        with factory() as session:
            report = apply_config(session, cfg)
            session.rollback()
    else:
        with transaction(factory) as session:
            report = apply_config(session, cfg)
    for warning in report.warnings:
        err_console.print(f"warning: {warning}", markup=False, highlight=False, soft_wrap=True)
    for line in report.lines():
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    verb = "would change" if dry_run else "changed"
    console.print(f"{report.changes} row(s) {verb}", markup=False)
