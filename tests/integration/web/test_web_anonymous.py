"""Nothing grows from anonymous traffic: page views store no session, forms still carry a
CSRF token, and the support form is limited per address."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from medsign.clock import FakeClock
from medsign.db.models import SupportRequestRow, WebSessionRow
from tests.integration.web import stand

PAGES = ["/", "/login", "/portal/login", "/support", "/login?next=/console",
         "/doctor", "/portal", "/console"]


def count(engine: Engine, table: type[WebSessionRow] | type[SupportRequestRow]) -> int:
    with Session(engine) as db:
        return db.scalar(select(func.count()).select_from(table)) or 0


def visitor(app: FastAPI, address: str) -> TestClient:
    return TestClient(app, follow_redirects=False, client=(address, 40000))


@pytest.fixture
def anonymous(app: FastAPI) -> Iterator[TestClient]:
    with visitor(app, "203.0.113.20") as c:
        yield c


def test_anonymous_page_views_create_no_session_rows(anonymous: TestClient, engine: Engine,
                                                     seeded: stand.Seeded) -> None:
    for _ in range(3):
        for page in PAGES:
            assert anonymous.get(page).status_code in (200, 303), page
        anonymous.cookies.clear()  # a crawler without cookies: still nothing stored
    assert count(engine, WebSessionRow) == 0
    assert "medsign_session" not in anonymous.cookies


def test_an_anonymous_form_carries_a_cookie_token_and_refuses_a_foreign_one(
        anonymous: TestClient, engine: Engine, seeded: stand.Seeded) -> None:
    page = anonymous.get("/support")
    token = stand.csrf(page)
    assert token and anonymous.cookies["medsign_csrf"] == token
    assert "HttpOnly" in page.headers["set-cookie"] and "SameSite=lax" in page.headers[
        "set-cookie"]
    assert stand.csrf(anonymous.get("/login")) == token  # one token per browser, not per page
    r = anonymous.post("/support", data={"message": "Не открывается документ",
                                         "csrf_token": "forged"})
    assert r.status_code == 403 and count(engine, SupportRequestRow) == 0
    r = anonymous.post("/support", data={"message": "Не открывается документ",
                                         "csrf_token": token})
    assert r.status_code == 200 and count(engine, SupportRequestRow) == 1
    assert count(engine, WebSessionRow) == 0  # a support request needs no session either
    anonymous.cookies.clear()
    r = anonymous.post("/support", data={"message": "ещё", "csrf_token": token})
    assert r.status_code == 403  # the token alone, without its cookie, is worth nothing


def send(client: TestClient, message: str) -> int:
    page = client.get("/support")
    return client.post("/support", data={"message": message,
                                         "csrf_token": stand.csrf(page)}).status_code


def test_the_support_form_is_limited_per_address(app: FastAPI, anonymous: TestClient,
                                                 engine: Engine, clock: FakeClock,
                                                 seeded: stand.Seeded) -> None:
    assert [send(anonymous, f"Проблема {i}") for i in range(5)] == [200] * 5
    page = anonymous.get("/support")
    r = anonymous.post("/support", data={"message": "шестая", "csrf_token": stand.csrf(page)})
    assert r.status_code == 429 and "Следующее можно отправить через 1 мин" in r.text
    assert r.headers["content-type"].startswith("text/html") and "шестая" in r.text  # kept
    with visitor(app, "203.0.113.21") as neighbour:
        assert send(neighbour, "У меня тоже") == 200  # another address is not affected
    assert count(engine, SupportRequestRow) == 6
    clock.advance(timedelta(minutes=1))
    assert send(anonymous, "шестая") == 200
    assert send(anonymous, "седьмая") == 429  # the next wait is longer
    clock.advance(timedelta(minutes=2))
    assert send(anonymous, "седьмая") == 200
