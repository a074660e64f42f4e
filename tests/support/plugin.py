"""An adapter plug-in installed (and removed) while the platform runs: a real distribution with
an ``lgsp.adapters`` entry point, written to a folder that is put on (and taken off) sys.path,
as ``pip install`` into a running platform's environment would."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

NAME = "heldtest"
MODULE = "lgsp_heldtest_plugin"

_SOURCE = '''
from lgsp_adapters.memory.adapter import MemoryAdapter


class HeldTestAdapter(MemoryAdapter):
    """The memory adapter under a plug-in's name."""
'''


class Plugin:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        (root / f"{MODULE}.py").write_text(_SOURCE, encoding="utf-8")
        info = root / f"{MODULE}-0.1.dist-info"
        info.mkdir(exist_ok=True)
        (info / "METADATA").write_text(
            "Metadata-Version: 2.1\nName: lgsp-heldtest-plugin\nVersion: 0.1\n", encoding="utf-8"
        )
        (info / "entry_points.txt").write_text(
            f"[lgsp.adapters]\n{NAME} = {MODULE}:HeldTestAdapter\n", encoding="utf-8"
        )

    def install(self) -> None:
        if str(self.root) not in sys.path:
            sys.path.insert(0, str(self.root))
        importlib.invalidate_caches()

    def uninstall(self) -> None:
        while str(self.root) in sys.path:
            sys.path.remove(str(self.root))
        sys.modules.pop(MODULE, None)
        importlib.invalidate_caches()
