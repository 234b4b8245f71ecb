"""Login, sessions and their cookie, logout, timeouts, throttling, weak passwords."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from medsign.accounts import passwords
from medsign.accounts import sessions as web_sessions
from medsign.app import create_app
from medsign.clock import FakeClock
from medsign.db.models import AuditRow, StaffUserRow, WebSessionRow
from medsign.web.config import WebSettings
from tests.integration.web import stand


def actions(engine: Engine) -> list[tuple[str, str]]:
    with Session(engine) as db:
        return [(a.actor, a.action) for a in db.scalars(select(AuditRow).where(
            AuditRow.action.startswith("web.")).order_by(AuditRow.id))]


def sessions(engine: Engine) -> int:
    with Session(engine) as db:
        return db.scalar(select(func.count()).select_from(WebSessionRow)) or 0


@pytest.fixture
def https_client(engine: Engine, clock: FakeClock) -> Iterator[TestClient]:
    app = create_app(engine, clock=clock, web=WebSettings(cookie_secure=True))
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as c:
        yield c


def test_the_session_cookie_is_secure_httponly_lax_and_host_only(
        https_client: TestClient, seeded: stand.Seeded) -> None:
    r = stand.login(https_client, "doc1")
    assert r.status_code == 303
    cookie = set_cookie(r, "__Host-medsign=")
    for flag in ("Secure", "HttpOnly", "Path=/", "SameSite=lax"):
        assert flag in cookie
    assert "domain" not in cookie.lower() and "max-age" not in cookie.lower()
    assert https_client.get("/doctor").status_code == 200


def set_cookie(r: Response, prefix: str) -> str:
    found = [c for c in r.headers.get_list("set-cookie") if c.startswith(prefix)]
    assert len(found) == 1, r.headers.get_list("set-cookie")
    return found[0]


def test_the_device_cookie_is_long_lived_secure_httponly_lax_and_host_only(
        https_client: TestClient, seeded: stand.Seeded) -> None:
    cookie = set_cookie(stand.login(https_client, "doc1"), "__Host-medsign-device=")
    for flag in ("Secure", "HttpOnly", "Path=/", "SameSite=lax", "Max-Age=7776000"):  # 90 days
        assert flag in cookie
    assert "domain" not in cookie.lower()


def test_on_plain_http_localhost_the_cookie_is_not_secure(client: TestClient,
                                                          seeded: stand.Seeded) -> None:
    r = stand.login(client, "doc1")
    for prefix in ("medsign_session=", "medsign_device="):
        cookie = set_cookie(r, prefix)
        assert "Secure" not in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie


def test_login_starts_a_new_session_and_audits_it(client: TestClient, seeded: stand.Seeded,
                                                  engine: Engine) -> None:
    client.get("/login")
    assert "medsign_session" not in client.cookies  # looking at the form stores nothing
    assert sessions(engine) == 0
    stand.login(client, "doc1")
    assert sessions(engine) == 1
    with Session(engine) as db:
        assert db.get(WebSessionRow, web_sessions.digest(client.cookies["medsign_session"]))
    assert ("web:doc1", "web.login") in actions(engine)


def test_the_session_id_is_not_stored_in_the_clear(client: TestClient, seeded: stand.Seeded,
                                                   engine: Engine) -> None:
    stand.login(client, "doc1")
    cookie = client.cookies["medsign_session"]
    with Session(engine) as db:
        ids = list(db.scalars(select(WebSessionRow.id_hash)))
    assert cookie not in ids and web_sessions.digest(cookie) in ids


def test_a_wrong_password_is_refused_and_audited(client: TestClient, seeded: stand.Seeded,
                                                 engine: Engine) -> None:
    r = stand.login(client, "doc1", "Wrong-Password-1")
    assert r.status_code == 401 and "Неверный логин или пароль" in r.text
    assert 'role="alert"' in r.text
    r = stand.login(client, "nobody", "Wrong-Password-1")
    assert r.status_code == 401 and "Неверный логин или пароль" in r.text
    assert actions(engine) == [("web:doc1", "web.login_wrong"),
                               ("web:nobody", "web.login_wrong")]


def test_logout_ends_the_session_for_good(client: TestClient, seeded: stand.Seeded,
                                          engine: Engine) -> None:
    stand.logged_in(client, "doc1")
    cookie = client.cookies["medsign_session"]
    token = stand.token_of(client, "/doctor")
    r = client.post("/logout", data={"csrf_token": token})
    assert r.status_code == 303 and r.headers["location"] == "/login?msg=logged_out"
    assert sessions(engine) == 0
    assert ("web:doc1", "web.logout") in actions(engine)
    client.cookies.set("medsign_session", cookie)  # replaying the old cookie does not help
    assert client.get("/doctor").status_code == 303


def test_an_idle_session_expires(client: TestClient, seeded: stand.Seeded,
                                 clock: FakeClock) -> None:
    stand.logged_in(client, "doc1")
    clock.advance(timedelta(minutes=29))
    assert client.get("/doctor").status_code == 200  # activity moves the idle timer
    clock.advance(timedelta(minutes=29))
    assert client.get("/doctor").status_code == 200
    clock.advance(timedelta(minutes=31))
    assert client.get("/doctor").status_code == 303


def test_live_updates_do_not_keep_a_session_alive(client: TestClient, seeded: stand.Seeded,
                                                  clock: FakeClock) -> None:
    stand.logged_in(client, "doc1")
    for _ in range(7):
        clock.advance(timedelta(minutes=5))
        r = client.get("/doctor/board", headers={"X-Requested-With": "medsign-refresh"})
    assert r.status_code == 401
    assert client.get("/doctor").status_code == 303


def test_a_busy_session_still_ends_after_the_absolute_limit(
        client: TestClient, seeded: stand.Seeded, clock: FakeClock) -> None:
    stand.logged_in(client, "doc1")
    for _ in range(11 * 4):
        clock.advance(timedelta(minutes=15))
        assert client.get("/doctor").status_code == 200
    clock.advance(timedelta(hours=1, minutes=1))
    assert client.get("/doctor").status_code == 303


def _set_password(engine: Engine, login: str, password: str) -> None:
    with Session(engine) as db:
        db.execute(update(StaffUserRow).where(StaffUserRow.login == login)
                   .values(password_hash=passwords.hash_password(password)))
        db.commit()


def test_the_demo_password_answers_like_a_wrong_one_outside_the_demo_profile(
        client: TestClient, seeded: stand.Seeded, engine: Engine) -> None:
    _set_password(engine, "doc1", "demo")
    demo = stand.login(client, "doc1", "demo")
    wrong = stand.login(client, "doc2", "Wrong-Password-1")
    assert demo.status_code == wrong.status_code == 401
    assert _error(demo.text) == _error(wrong.text) == "Неверный логин или пароль."
    assert client.get("/doctor").status_code == 303
    assert actions(engine) == [("web:doc1", "web.login_wrong"), ("web:doc2", "web.login_wrong")]
    for _ in range(4):  # and it counts towards the delay like any wrong password
        stand.login(client, "doc1", "demo")
    assert stand.login(client, "doc1", "demo").status_code == 429


def _error(page: str) -> str:
    """The text of the form's alert."""
    found = re.search(r'role="alert".*?<p class="msg-title">[^<]*</p>\s*<p>(.*?)</p>', page,
                      re.S)
    assert found is not None, page
    return found.group(1).strip()


def test_the_demo_password_works_in_the_demo_profile(engine: Engine, clock: FakeClock,
                                                     seeded: stand.Seeded) -> None:
    _set_password(engine, "doc1", "demo")
    demo = create_app(engine, clock=clock,
                      web=WebSettings(cookie_secure=False, allow_demo_passwords=True))
    with TestClient(demo, follow_redirects=False) as c:
        assert stand.login(c, "doc1", "demo").status_code == 303
        assert c.get("/doctor").status_code == 200


def test_after_login_the_user_lands_on_their_page_or_the_one_asked_for(
        client: TestClient, seeded: stand.Seeded) -> None:
    stand.login(client, "op")
    assert client.get("/after-login").headers["location"] == "/console"
    page = client.get("/login?next=/console/audit")
    assert page.status_code == 303  # already signed in
    client.cookies.clear()
    page = client.get("/login?next=//evil.example/")
    r = client.post("/login", data={"login": "op", "password": stand.PASSWORD,
                                    "next": "//evil.example/", "csrf_token": stand.csrf(page)})
    assert r.headers["location"] == "/after-login"


def test_patients_log_in_with_their_email_too(client: TestClient,
                                              seeded: stand.Seeded) -> None:
    r = stand.login(client, "PAT1@example.org", path="/portal/login")
    assert r.status_code == 303 and r.headers["location"] == "/portal"
    assert "Иванова Мария Петровна" in client.get("/portal").text
