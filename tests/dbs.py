"""Test databases: a migrated SQLite file per test, a migrated PostgreSQL database per run.

PostgreSQL comes from ``MEDSIGN_TEST_PG_URL`` (default: the local server with trust auth);
each test run creates its own database and drops it at the end, and each test starts from
empty tables.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from medsign.db.engine import make_engine
from medsign.db.migrate import upgrade
from medsign.db.models import Base

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def admin_pg_url() -> str:
    return os.environ.get("MEDSIGN_TEST_PG_URL", DEFAULT_PG)


@contextmanager
def scratch_pg_database(prefix: str) -> Iterator[str]:
    """A new, empty PostgreSQL database of one test (its URL), dropped afterwards even with
    connections still open."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_pg_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_pg_url()).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def pg_available() -> bool:
    try:
        eng = create_engine(admin_pg_url(), pool_pre_ping=True)
        with eng.connect() as conn:
            conn.execute(text("SELECT 1"))
        eng.dispose()
        return True
    except Exception:
        return False


class PgDatabase:
    """One database for the whole run; ``reset`` empties its tables between tests."""

    def __init__(self) -> None:
        self.name = f"medsign_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        admin = make_url(admin_pg_url())
        self.url = admin.set(database=self.name).render_as_string(hide_password=False)
        self._admin = create_engine(admin, isolation_level="AUTOCOMMIT")
        with self._admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{self.name}"'))
        engine = make_engine(self.url)
        upgrade(engine)
        engine.dispose()

    def reset(self, engine: Engine) -> None:
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        with engine.begin() as conn:
            conn.execute(text("SET session_replication_role = replica"))  # skip audit triggers
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))

    def drop(self) -> None:
        with self._admin.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = :n AND pid <> pg_backend_pid()"), {"n": self.name})
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}"'))
        self._admin.dispose()


class SqliteTemplate:
    """A migrated database file, copied for each test (faster than migrating each time)."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / "template.db"
        engine = make_engine(f"sqlite:///{self.path}")
        upgrade(engine)
        engine.dispose()  # the last connection to close checkpoints the WAL into the file

    def copy_to(self, target: Path) -> str:
        shutil.copyfile(self.path, target)
        return f"sqlite:///{target}"
