"""Messages, faults and the support form (seed 5.2)."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from medsign.accounts import support
from medsign.clock import FakeClock
from medsign.db.models import SupportRequestRow
from medsign.web.console.routes import PAGE
from medsign.web.forms import encode_cursor
from tests.integration.web import stand

SECRET = "internal detail 0xDEADBEEF"


@pytest.fixture
def broken(app: FastAPI) -> Iterator[TestClient]:
    """The real app plus pages that fail in the ways a bug would."""
    router = APIRouter()

    @router.get("/doctor/broken")
    def broken_page() -> None:
        raise RuntimeError(SECRET)

    @router.get("/api/v1/broken")
    def broken_api() -> None:
        raise RuntimeError(SECRET)
    app.include_router(router)
    with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as c:
        yield c


def test_a_fault_page_shows_a_reference_and_no_internals(broken: TestClient) -> None:
    r = broken.get("/doctor/broken", headers={"X-Request-ID": "req-12345"})
    assert r.status_code == 500 and r.headers["content-type"].startswith("text/html")
    for leak in (SECRET, "Traceback", "RuntimeError", "File \""):
        assert leak not in r.text
    assert 'data-testid="fault-reference">req-12345<' in r.text
    assert 'role="alert"' in r.text and "Неисправность" in r.text
    assert "/support?ref=req-12345&amp;page=%2Fdoctor%2Fbroken" in r.text


def test_the_api_keeps_its_problem_json(broken: TestClient) -> None:
    r = broken.get("/api/v1/broken")
    assert r.status_code == 500 and r.headers["content-type"] == "application/problem+json"
    assert SECRET not in r.text
    assert broken.get("/api/v1/nothing").headers["content-type"] == "application/problem+json"


def test_unknown_pages_are_a_russian_404_page(client: TestClient) -> None:
    r = client.get("/doctor/nothing/here")
    assert r.status_code == 404 and "Страница не найдена" in r.text and 'lang="ru"' in r.text
    r = client.get("/nothing", headers={"Accept": "text/html"})
    assert r.status_code == 404 and "Страница не найдена" in r.text


def test_an_anonymous_report_keeps_its_context(client: TestClient, engine: Engine) -> None:
    form = client.get("/support", params={"ref": "req-12345", "page": "/doctor/broken"})
    assert "req-12345" in form.text
    r = client.post("/support", headers={"User-Agent": "TestBrowser/1.0"}, data={
        "csrf_token": stand.csrf(form), "message": "Страница АРМ не открывается",
        "contact": "+7 999 000-00-00", "ref": "req-12345", "page": "/doctor/broken"})
    assert r.status_code == 200 and "Обращение принято" in r.text
    with Session(engine) as db:
        row = db.scalars(select(SupportRequestRow)).one()
    assert (row.message, row.request_id, row.page_url, row.user_agent, row.actor) == (
        "Страница АРМ не открывается", "req-12345", "/doctor/broken", "TestBrowser/1.0", None)
    assert row.status == "open" and row.reference.startswith("SR-")
    assert row.reference in r.text


def test_a_signed_in_user_is_recorded_and_junk_context_is_dropped(
        client: TestClient, seeded: stand.Seeded, engine: Engine) -> None:
    stand.logged_in(client, "doc1")
    form = client.get("/support")
    client.post("/support", data={"csrf_token": stand.csrf(form), "message": "Вопрос",
                                  "ref": "<script>", "page": "https://evil.example/"},
                headers={"X-Request-ID": "req-own"})
    with Session(engine) as db:
        row = db.scalars(select(SupportRequestRow)).one()
    assert row.actor == "web:doc1" and row.page_url is None and row.request_id == "req-own"


def test_an_empty_report_is_refused_with_a_message(client: TestClient) -> None:
    form = client.get("/support")
    r = client.post("/support", data={"csrf_token": stand.csrf(form), "message": "   "})
    assert r.status_code == 422 and "Опишите проблему" in r.text and 'role="alert"' in r.text


def test_operators_see_and_close_requests(client: TestClient, seeded: stand.Seeded,
                                          engine: Engine) -> None:
    form = client.get("/support")
    client.post("/support", data={"csrf_token": stand.csrf(form), "message": "Не приходит СМС"})
    stand.logged_in(client, "op")
    page = client.get("/console/support")
    assert "Не приходит СМС" in page.text
    with Session(engine) as db:
        reference = db.scalars(select(SupportRequestRow.reference)).one()
    r = client.post(f"/console/support/{reference}/close", data={
        "csrf_token": stand.csrf(page), "resolution": "Перезвонили, всё работает"})
    assert r.status_code == 303
    assert "Обращений нет" in client.get("/console/support").text
    closed = client.get("/console/support", params={"status": "closed"}).text
    assert "Перезвонили, всё работает" in closed and "web:op" in closed
    again = client.post(f"/console/support/{reference}/close", data={
        "csrf_token": stand.csrf(page), "resolution": "ещё раз"})
    assert again.status_code == 409 and "уже закрыто" in again.text


def test_operators_page_through_requests_newest_first(client: TestClient, seeded: stand.Seeded,
                                                     engine: Engine, clock: FakeClock) -> None:
    with Session(engine) as db:  # more than a page, some in the same second: the keyset's ties
        for i in range(PAGE + 3):
            support.submit(db, now=clock.now() + timedelta(seconds=i // 2), report=support.Report(
                message=f"обращение номер {i:02d}", contact=None, page_url=None,
                request_id=None, actor=None, user_agent=None))
        db.commit()
    stand.logged_in(client, "op")
    first = client.get("/console/support").text
    assert f"Всего: {PAGE + 3}." in first and "Первая страница" not in first
    shown = re.findall(r"обращение номер (\d\d)", first)
    assert shown == [f"{i:02d}" for i in range(PAGE + 2, 2, -1)]
    following = re.search(r'href="([^"]+)" data-testid="next-page"', first)
    assert following is not None
    second = client.get(html.unescape(following.group(1))).text
    assert re.findall(r"обращение номер (\d\d)", second) == ["02", "01", "00"]
    assert "Первая страница" in second and 'data-testid="next-page"' not in second
    # a cursor that is not one, or names a moment the database cannot keep: the first page
    for cursor in ("bogus", encode_cursor({"t": "0001-01-01T00:00:00+05:00", "i": 1})):
        page = client.get("/console/support", params={"cursor": cursor})
        assert page.status_code == 200 and "обращение номер 27" in page.text


def test_messages_after_a_redirect_come_from_a_fixed_list(client: TestClient) -> None:
    page = client.get("/login", params={"msg": "logged_out"}).text
    assert "Вы вышли из системы" in page and 'role="status"' in page
    page = client.get("/login", params={"msg": "<b>injected</b>"}).text
    assert "injected" not in page
