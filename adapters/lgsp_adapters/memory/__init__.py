"""An in-memory recipient for tests: records what it is given, fails or rejects on request."""

from lgsp_adapters.memory.adapter import MemoryAdapter, MemorySettings
from lgsp_adapters.memory.store import MemoryStore, store

__all__ = ["MemoryAdapter", "MemorySettings", "MemoryStore", "store"]
