"""Payload validation: the shared JSON Schemas (``schemas/``) compiled once, every error reported.

catalogue = SchemaCatalogue(settings.schemas_dir)
catalogue.check("dossier/1", payload)      # raises ValidationFailed (422) with every error
catalogue.errors("dossier", payload)       # [{"pointer", "keyword", "message"}, ...]
"""

from lgsp.validation.catalogue import ErrorEntry, SchemaCatalogue, SchemaLoadError

__all__ = ["ErrorEntry", "SchemaCatalogue", "SchemaLoadError"]
