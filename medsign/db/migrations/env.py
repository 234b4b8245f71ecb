"""Alembic environment: the engine comes from ``medsign.db.migrate.alembic_config``."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from alembic import context

from medsign.db.models import Base

config = context.config
engine = config.attributes["engine"]


def _modelled(name: str | None, kind: str, parent: MutableMapping[Any, str | None]) -> bool:
    """What autogenerate compares: not SQLite's full-text index of the names (0019), a
    virtual table and its shadow tables that no model describes."""
    return not (kind == "table" and name is not None and name.startswith("patients_search"))


with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata,
                      render_as_batch=connection.dialect.name == "sqlite",
                      compare_type=True, include_name=_modelled)
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
