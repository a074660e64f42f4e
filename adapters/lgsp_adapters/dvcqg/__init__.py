"""The National Public Service Portal (DVCQG): adapter and simulator."""

from lgsp_adapters.dvcqg.adapter import DvcqgAdapter, DvcqgSettings

__all__ = ["DvcqgAdapter", "DvcqgSettings"]
