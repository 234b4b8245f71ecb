"""Shared fixtures. Tests that take ``engine`` (or ``db_url``) run on every selected back end:
``--db sqlite``, ``--db postgresql`` or ``--db both`` (the default)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from medsign.db.engine import make_engine
from tests.dbs import PgDatabase, SqliteTemplate, pg_available, scratch_pg_database

BACKENDS = ("sqlite", "postgresql")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--db", default="both", choices=("sqlite", "postgresql", "both"),
                     help="database back ends to run the storage tests on")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        choice = metafunc.config.getoption("--db")
        backends = BACKENDS if choice == "both" else (choice,)
        metafunc.parametrize("backend", backends, indirect=True)


@pytest.fixture(scope="session")
def _pg(request: pytest.FixtureRequest) -> Iterator[PgDatabase | None]:
    if request.config.getoption("--db") == "sqlite":
        yield None
        return
    if not pg_available():
        pytest.fail("PostgreSQL is not reachable (set MEDSIGN_TEST_PG_URL or use --db sqlite)")
    db = PgDatabase()
    yield db
    db.drop()


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> SqliteTemplate:
    return SqliteTemplate(tmp_path_factory.mktemp("sqlite-template"))


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if backend == "sqlite":
        template: SqliteTemplate = request.getfixturevalue("_sqlite_template")
        return template.copy_to(tmp_path / "medsign.db")
    pg: PgDatabase = request.getfixturevalue("_pg")
    engine = make_engine(pg.url)
    pg.reset(engine)
    engine.dispose()
    return pg.url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def empty_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A database with no schema yet (for migration tests): a new SQLite file, or a new
    PostgreSQL database dropped after the test."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    with scratch_pg_database("medsign_empty") as url:
        yield url
