"""The ``lgsp`` command line. One module per command group; each registers a Typer sub-app here.

Commands act on the platform configured by the environment (``LGSP_*``), which for a checkout is
the same SQLite database that ``make run`` serves, so a second terminal can administer it.
"""

from __future__ import annotations

import importlib
import sys

import typer

from lgsp.cli.common import failure

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
    ("lgsp.cli.status", None),
]

for _module_name, _group in _GROUPS:
    _module = importlib.import_module(_module_name)
    if _group is None:
        _module.register(app)
    else:
        app.add_typer(_module.app, name=_group)


def main() -> None:
    """The ``lgsp`` command. Every failure of every command ends here: one line on stderr
    (``error: ...``) and a non-zero exit status, never a traceback (:func:`failure`)."""
    try:
        status = app(standalone_mode=False)
    except BaseException as exc:  # the one handler of the command line
        if isinstance(exc, SystemExit):
            raise
        line, status = failure(exc)
        sys.stderr.write(line + "\n")
    sys.exit(status if isinstance(status, int) else 0)
