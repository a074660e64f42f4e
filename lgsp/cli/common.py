"""Helpers shared by CLI commands: settings, a database session factory, output."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from rich.console import Console
from sqlalchemy.orm import Session, sessionmaker

from lgsp.directory.config import development_environment
from lgsp.kit.db import make_engine, make_sessionmaker
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
