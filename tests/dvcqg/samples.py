"""The shared sample payloads (kept in the package so `lgsp demo` uses them too)."""

from lgsp_sims.dvcqg.samples import sample_dossier, sample_status

__all__ = ["sample_dossier", "sample_status"]
