"""The generic REST adapter (JSON over HTTP)."""

from lgsp_adapters.rest.adapter import RestAdapter
from lgsp_adapters.rest.settings import RestSettings

__all__ = ["RestAdapter", "RestSettings"]
