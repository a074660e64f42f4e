"""The generic REST adapter (JSON over HTTP)."""

from adapters.rest.adapter import RestAdapter
from adapters.rest.settings import RestSettings

__all__ = ["RestAdapter", "RestSettings"]
