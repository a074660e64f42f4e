"""The migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from lgsp.kit import migrate
from lgsp.kit.db import make_engine
from lgsp.models import Base


def test_migrations_match_the_models(database_url: str) -> None:
    migrate.upgrade(database_url)
    engine = make_engine(database_url, pool_size=1)
    with engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert differences == []
