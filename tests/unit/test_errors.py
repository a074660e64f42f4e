"""One error root: every problem type is one declared class under LGSPError, drawn in
lgsp/kit/errors.py, and no code patches an error instance into another problem type; every
failing command prints one line on stderr and exits non-zero, without a traceback."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
import subprocess
from pathlib import Path

import pytest

import lgsp
from lgsp.kit import errors
from lgsp.kit.db import Base, make_engine
from lgsp.settings import PROJECT_ROOT, Settings
from tests.support.cli import LGSP, cli_env

PACKAGE = Path(lgsp.__file__).parent


def _all_error_classes() -> list[type[errors.LGSPError]]:
    for module in pkgutil.walk_packages([str(PACKAGE)], "lgsp."):
        if ".migrations" not in module.name:
            importlib.import_module(module.name)
    found: list[type[errors.LGSPError]] = []
    todo = [errors.LGSPError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo += cls.__subclasses__()
    return found


def test_one_declared_class_per_problem_type_all_drawn() -> None:
    classes = _all_error_classes()
    by_slug: dict[str, list[str]] = {}
    for cls in classes:
        by_slug.setdefault(cls.slug, []).append(cls.__qualname__)
    assert {slug: names for slug, names in by_slug.items() if len(names) > 1} == {}
    tree = errors.__doc__ or ""
    drawn = set(re.findall(r"^[ │├└─]*(\w+) \(", tree, re.MULTILINE))
    assert sorted(cls.__name__ for cls in classes if cls.__name__ not in drawn) == []
    for name in ("ConfigError", "SchemaLoadError", "ExportFormatError", "InsecureSettingsError"):
        assert name in {cls.__name__ for cls in classes}


def test_no_code_patches_an_error_into_another_problem_type() -> None:
    patched = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[ast.expr] = []
            if isinstance(node, ast.Assign):
                targets = [t for target in node.targets for t in getattr(target, "elts", [target])]
            elif isinstance(node, ast.AugAssign | ast.AnnAssign):
                targets = [node.target]
            for target in targets:
                if (
                    isinstance(target, ast.Attribute)
                    and target.attr in ("status", "slug", "title")
                    and not (isinstance(target.value, ast.Name) and target.value.id == "self")
                ):
                    patched.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert patched == []


@pytest.fixture
def migrated(tmp_path: Path) -> Settings:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    engine = make_engine(url, pool_size=1)
    Base.metadata.create_all(engine)
    engine.dispose()
    return Settings(env="test", secret_key="t" * 40, database_url=url, config_dir=tmp_path)


def _not_an_export(tmp_path: Path) -> str:
    path = tmp_path / "export.jsonl"
    path.write_text('{"format": "something else"}\n{"batch": 1}\n')
    return str(path)


def _broken_province(tmp_path: Path) -> str:
    directory = tmp_path / "province"
    directory.mkdir()
    (directory / "province.yaml").write_text("province: {code: H56}\n")
    return str(directory)


CASES = {
    "bad config path": (lambda tmp: ["config", "apply", str(tmp / "no-such-folder")], {}),
    "invalid province configuration": (lambda tmp: ["config", "check", _broken_province(tmp)], {}),
    "invalid settings": (
        lambda tmp: ["clients", "list"],
        {"LGSP_ACCESS_TOKEN_TTL_SECONDS": "5"},
    ),
    "unknown client": (lambda tmp: ["clients", "rotate-secret", "no-such-client"], {}),
    "unknown dead letter": (lambda tmp: ["dead-letters", "show", "4242"], {}),
    "bad export format": (lambda tmp: ["log", "verify-export", _not_an_export(tmp)], {}),
    "database unreachable": (
        lambda tmp: ["clients", "list"],
        {"LGSP_DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:1/lgsp"},
    ),
    "unknown transport settings": (
        lambda tmp: ["serve", "--workers", "2", "--no-migrate"],
        {},
    ),
    "unknown command": (lambda tmp: ["no-such-command"], {}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_failing_command_prints_one_line_and_exits_non_zero(
    case: str, migrated: Settings, tmp_path: Path
) -> None:
    args, env = CASES[case]
    result = subprocess.run(
        [LGSP, *args(tmp_path)],
        env=cli_env(migrated, **env),
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and len(lines[0]) > len("error: ") + 10
