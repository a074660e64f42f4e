"""`lgsp adapters`: list the adapters this installation knows, and scaffold a plug-in.

``lgsp adapters new NAME --kind rest|soap [--dir PATH]`` writes a separate installable package,
``lgsp-NAME``, that registers the adapter ``NAME`` in the ``lgsp.adapters`` entry-point group:
a settings model and an adapter subclass reusing the built-in REST or SOAP adapter, a fake
recipient, the contract tests wired to the installed test kit, ``py.typed`` and a configuration
snippet (docs/adapters.md, "Writing a plug-in"). The templates ship with the adapter test kit
(lgsp-testkit), which the scaffold's tests need anyway, and are found through the
``lgsp.scaffold`` entry-point group.
"""

from __future__ import annotations

import keyword
import re
from importlib.metadata import entry_points
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Annotated, Literal

import typer

from lgsp.cli.common import console, err_console

app = typer.Typer(help="Adapters: list them, scaffold a plug-in.", no_args_is_help=True)

Kind = Literal["rest", "soap"]
NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
SCAFFOLD_GROUP = "lgsp.scaffold"

# target path (with __PACKAGE__ placeholders) -> template, per kind
_FILES: dict[str, dict[str, str]] = {
    kind: {
        "pyproject.toml": "pyproject.toml.tmpl",
        "README.md": "README.md.tmpl",
        "config/endpoint.yaml": f"endpoint_{kind}.yaml.tmpl",
        "src/__PACKAGE__/__init__.py": "",
        "src/__PACKAGE__/py.typed": "",
        "src/__PACKAGE__/settings.py": f"settings_{kind}.py.tmpl",
        "src/__PACKAGE__/adapter.py": f"adapter_{kind}.py.tmpl",
        "tests/fake_recipient.py": f"fake_{kind}.py.tmpl",
        "tests/test_contract.py": f"test_contract_{kind}.py.tmpl",
    }
    for kind in ("rest", "soap")
}
_FILES["soap"]["tests/recipient.wsdl"] = "recipient.wsdl.tmpl"


class ScaffoldError(Exception):
    pass


def _templates() -> Traversable:
    found = [point for point in entry_points(group=SCAFFOLD_GROUP) if point.name == "templates"]
    if not found:
        raise ScaffoldError(
            "the scaffold's templates come with the adapter test kit: pip install lgsp-testkit "
            "(from this repository: pip install -e adapters/testkit)"
        )
    folder: Traversable = found[0].load()()
    return folder


def _names(name: str, kind: str) -> dict[str, str]:
    if not NAME.match(name) or len(name) > 40:
        raise ScaffoldError(
            f"adapter name {name!r}: lower-case letters and digits in words joined by '-', "
            "starting with a letter, at most 40 characters (e.g. vnpost-sms)"
        )
    from lgsp_adapters import registry

    if name in registry.available():
        raise ScaffoldError(f"an adapter named {name!r} is already installed; choose another name")
    package = "lgsp_" + name.replace("-", "_")
    if keyword.iskeyword(package):  # pragma: no cover - the prefix rules it out
        raise ScaffoldError(f"{package!r} is a Python keyword")
    return {
        "__DIST__": f"lgsp-{name}",
        "__PACKAGE__": package,
        "__CLASS__": "".join(part.capitalize() for part in name.split("-")),
        "__ENV__": name.replace("-", "_").upper(),
        "__NAME__": name,
        "__KIND__": kind,
    }


def _fill(text: str, names: dict[str, str]) -> str:
    for token, value in names.items():
        text = text.replace(token, value)
    return text


def scaffold(name: str, kind: Kind, directory: Path) -> Path:
    """Write the package ``lgsp-NAME`` into ``directory``; returns its root."""
    if kind not in _FILES:
        raise ScaffoldError(f"--kind must be rest or soap, not {kind!r}")
    names = _names(name, kind)
    root = directory / names["__DIST__"]
    if root.exists():
        raise ScaffoldError(f"{root} already exists; remove it or choose another --dir")
    templates = _templates()
    rendered = {
        _fill(target, names): _fill(templates.joinpath(t).read_text("utf-8"), names) if t else ""
        for target, t in _FILES[kind].items()
    }
    for target, text in rendered.items():
        path = root / target
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


@app.command("new")
def new(
    name: Annotated[str, typer.Argument(help="the adapter's name in the configuration")],
    kind: Annotated[
        str, typer.Option("--kind", help="the built-in adapter it builds on: rest or soap")
    ],
    directory: Annotated[
        Path, typer.Option("--dir", help="where to create lgsp-NAME/", file_okay=False)
    ] = Path("."),
) -> None:
    """Scaffold an adapter plug-in: a separate installable package with its contract tests."""
    try:
        root = scaffold(name, kind, directory)  # type: ignore[arg-type]
    except (ScaffoldError, OSError) as exc:
        err_console.print(
            f"lgsp adapters new: {exc}", markup=False, highlight=False, soft_wrap=True
        )
        raise typer.Exit(1) from None
    console.print(f"created {root}", markup=False, highlight=False)
    console.print(
        f"next: pip install -e '{root}[test]' && pytest {root}  (then restart the platform "
        f"processes and use `adapter: {name}` as in {root / 'config' / 'endpoint.yaml'})",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


@app.command("list")
def list_adapters() -> None:
    """The adapter names this installation can build: built-ins and installed plug-ins."""
    from lgsp_adapters import registry

    for adapter in registry.available():
        console.print(adapter, markup=False, highlight=False)
