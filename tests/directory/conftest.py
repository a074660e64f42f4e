from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from lgsp.settings import PROJECT_ROOT

SAMPLE = PROJECT_ROOT / "config"

Editor = Callable[[str, Callable[[Any], None]], None]


@pytest.fixture
def config_copy(tmp_path: Path) -> Path:
    """A private copy of the sample province to break or change."""
    target = tmp_path / "config"
    shutil.copytree(SAMPLE, target)
    return target


@pytest.fixture
def edit(config_copy: Path) -> Editor:
    """edit("routes.yaml", fn): load the file, let fn change the data, write it back."""

    def apply(file: str, change: Callable[[Any], None]) -> None:
        path = config_copy / file
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        change(data)
        path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), "utf-8")

    return apply
