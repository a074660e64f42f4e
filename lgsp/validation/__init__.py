"""Payload validation: the shared JSON Schemas (``schemas/``) compiled once, every error reported.

registry = SchemaRegistry(settings.schemas_dir)
registry.check("dossier/1", payload)      # raises ValidationFailed (422) with every error
registry.errors("dossier", payload)       # [{"pointer", "keyword", "message"}, ...]
"""

from lgsp.validation.registry import ErrorEntry, SchemaLoadError, SchemaRegistry

__all__ = ["ErrorEntry", "SchemaLoadError", "SchemaRegistry"]
