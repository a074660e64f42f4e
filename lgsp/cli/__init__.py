"""The ``lgsp`` command line. One module per command group; each registers a Typer sub-app here.

Commands act on the platform configured by the environment (``LGSP_*``), which for a checkout is
the same SQLite database that ``make run`` serves, so a second terminal can administer it.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="lgsp",
    help="Provincial integration platform (LGSP): serve, administer and audit.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

# (module, sub-command name or None for top-level commands registered by the module itself)
_GROUPS: list[tuple[str, str | None]] = [
    ("lgsp.cli.serve", None),
    ("lgsp.cli.db", "db"),
    ("lgsp.cli.clients", "clients"),
    ("lgsp.cli.keys", "keys"),
    ("lgsp.cli.config", "config"),
    ("lgsp.cli.log", "log"),
    ("lgsp.cli.deadletters", "dead-letters"),
    ("lgsp.cli.messages", "messages"),
    ("lgsp.cli.demo", None),
    ("lgsp.cli.adapters", "adapters"),
]

for _module_name, _group in _GROUPS:
    try:
        _module = importlib.import_module(_module_name)
    except ModuleNotFoundError as exc:  # a group not written yet
        if exc.name != _module_name:
            raise
        continue
    if _group is None:
        _module.register(app)
    else:
        app.add_typer(_module.app, name=_group)


def main() -> None:
    app()
