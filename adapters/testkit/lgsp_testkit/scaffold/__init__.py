"""The templates `lgsp adapters new` fills to scaffold an adapter plug-in. They ship with the kit,
which the scaffold's tests need anyway; the platform's CLI finds them through the ``lgsp.scaffold``
entry point, so the platform itself carries no test code."""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable


def templates() -> Traversable:
    """The folder of ``*.tmpl`` files."""
    return files(__name__)
