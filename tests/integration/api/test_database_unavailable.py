"""A database that cannot be reached (down, restarting) is a temporary state: the API answers
503 ``database_unavailable`` with ``Retry-After`` and the pages a plain «временно недоступен»
— never a 500 "internal error" — and the process serves again once the database is back."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from medsign.app import create_app
from medsign.db.engine import RETRY_AFTER_S, make_engine
from medsign.web.config import WebSettings
from tests.e2e.processes import free_port
from tests.integration.web.stand import browser, login


@pytest.fixture
def client() -> Iterator[TestClient]:
    """The service on a PostgreSQL address where nothing listens."""
    engine = make_engine(f"postgresql://medsign@127.0.0.1:{free_port()}/medsign")
    try:
        app = create_app(engine, web=WebSettings(cookie_secure=False))
        with TestClient(app, raise_server_exceptions=False) as c:
            yield c
    finally:
        engine.dispose()


def test_the_api_answers_503_with_retry_after(client: TestClient) -> None:
    r = client.get("/api/v1/organizations/mo1", headers={"Authorization": "Bearer whatever"})
    assert r.status_code == 503, r.text
    assert r.headers["Retry-After"] == str(RETRY_AFTER_S)
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "database_unavailable"
    assert "повторите" in r.json()["detail"]


def test_a_page_says_the_service_is_briefly_unavailable(client: TestClient) -> None:
    with browser(client.app) as page:  # type: ignore[arg-type]
        r = login(page, "doctor", "a password")  # looking up the account needs the database
    assert r.status_code == 503, r.text[:500]
    assert r.headers["Retry-After"] == str(RETRY_AFTER_S)
    assert "временно недоступен" in r.text and "OperationalError" not in r.text
    assert "Номер обращения" in r.text  # the way to support, as on any fault page


def test_readiness_says_the_database_is_down(client: TestClient) -> None:
    r = client.get("/readyz")
    assert r.status_code == 503 and r.json()["checks"]["database"] is False
