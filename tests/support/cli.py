"""Running the `lgsp` command line as a user would: a real process with the environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from lgsp.directory.config import development_environment
from lgsp.settings import PROJECT_ROOT, Settings

LGSP = str(Path(sys.executable).parent / "lgsp")


def cli_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LGSP_")}
    # The variables the sample province's simulators need (development_environment).
    env.update(development_environment(PROJECT_ROOT / "config"))
    env.update(
        LGSP_ENV=settings.env,
        LGSP_SECRET_KEY=settings.secret_key.get_secret_value(),
        LGSP_DATABASE_URL=settings.database_url,
        LGSP_ISSUER=settings.issuer,
        LGSP_CONFIG_DIR=str(settings.config_dir),
    )
    env.update(extra)
    return env


def run_cli(
    settings: Settings, *args: str, check: bool = False
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [LGSP, *args],
        env=cli_env(settings),
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"lgsp {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result
