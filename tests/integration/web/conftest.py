"""Fixtures of the web tests: the real application over a migrated database, a fixed clock,
seeded organisations, staff and patients, and a logged-in client helper.

Until the lead regenerates the Alembic migration with the web tables, they are created here
(``create_all`` creates only what is missing).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from medsign.accounts import passwords
from medsign.app import create_app
from medsign.clock import FakeClock
from medsign.db.engine import make_engine
from medsign.db.models import Base
from medsign.serving import BotSettings
from medsign.web.config import WebSettings
from tests.dbs import PgDatabase
from tests.identities import Identities
from tests.integration.web import stand

NOW = datetime(2026, 3, 10, 7, 0, tzinfo=UTC)  # 10:00 in Moscow, a Tuesday


@pytest.fixture(scope="session")
def _pg(_pg: PgDatabase | None) -> PgDatabase | None:
    if _pg is not None:
        engine = make_engine(_pg.url)
        Base.metadata.create_all(engine)
        engine.dispose()
    return _pg


@pytest.fixture
def engine(engine: Engine) -> Engine:
    Base.metadata.create_all(engine)
    return engine


@pytest.fixture(autouse=True)
def _cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2 at its lowest cost: the tests are about the rules, not the hash's strength."""
    monkeypatch.setattr(passwords, "_hasher",
                        PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def web_settings() -> WebSettings:
    return WebSettings(cookie_secure=False)


@pytest.fixture
def bot() -> BotSettings:
    return stand.bot_settings()


@pytest.fixture
def identities() -> Identities:
    """Every МО can sign, unless a test says otherwise."""
    return Identities()


@pytest.fixture
def app(engine: Engine, clock: FakeClock, web_settings: WebSettings,
        bot: BotSettings, identities: Identities) -> FastAPI:
    return create_app(engine, clock=clock, web=web_settings, bot=bot, identities=identities)


@pytest.fixture
def seeded(engine: Engine, clock: FakeClock, bot: BotSettings) -> stand.Seeded:
    return stand.seed(engine, clock.now(), bot.policy)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as c:
        yield c


@pytest.fixture
def new_client(app: FastAPI) -> Iterator[Callable[[], TestClient]]:
    """More browsers at once (a doctor and an operator side by side)."""
    opened: list[TestClient] = []

    def make() -> TestClient:
        c = TestClient(app, raise_server_exceptions=False, follow_redirects=False)
        c.__enter__()
        opened.append(c)
        return c
    yield make
    for c in opened:
        c.__exit__(None, None, None)


def later(clock: FakeClock, **delta: float) -> None:
    clock.advance(timedelta(**delta))


@pytest.fixture
def attacker(app: FastAPI) -> Iterator[TestClient]:
    """A browser at an address of its own, guessing passwords (login-limit tests)."""
    with stand.browser(app, "198.51.100.66") as c:
        yield c


@pytest.fixture
def owner(app: FastAPI) -> Iterator[TestClient]:
    """The account owner's browser (login-limit tests)."""
    with stand.browser(app, "203.0.113.10") as c:
        yield c
