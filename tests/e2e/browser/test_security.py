"""Security where the browser is what matters: a login form whose CSRF token was tampered
with is refused (and signs nobody in), and the session cookie carries the flags the service
documents — ``HttpOnly``, ``SameSite=Lax``, and ``Secure`` unless the public URL is plain http
on this machine in the demo or development profile (``medsign.web.config.cookie_secure_for``:
then, and only then, the cookie is ``medsign_session`` instead of ``__Host-medsign``)."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Cookie, Page, expect

from medsign.web.config import cookie_secure_for
from tests.e2e.browser.pages import Ui
from tests.e2e.browser.stand import PASSWORD, Stand

pytestmark = [pytest.mark.slow, pytest.mark.browser]
LOCAL_COOKIE = "medsign_session"  # http://127.0.0.1, profile "demo": not Secure
CSRF_COOKIE = "medsign_csrf"  # an anonymous visitor's CSRF token: no session row before login
DEVICE_COOKIE = "medsign_device"  # this browser logged in before: skips the account's delay


def session_cookie(page: Page, name: str = LOCAL_COOKIE) -> Cookie:
    found = [c for c in page.context.cookies() if c.get("name") == name]
    assert len(found) == 1, page.context.cookies()
    return found[0]


def assert_flags(cookie: Cookie) -> None:
    assert cookie.get("httpOnly") is True, cookie
    assert cookie.get("sameSite") == "Lax", cookie
    assert cookie.get("secure") is False, cookie  # plain http on 127.0.0.1 (documented)
    assert cookie.get("path") == "/", cookie


def test_a_tampered_csrf_token_is_refused(ui: Ui, stand: Stand) -> None:
    page = ui.person("visitor")
    ui.goto(page, "/login")
    ui.check(page, "staff-login")
    form = page.get_by_test_id("login-form")
    page.get_by_label("Логин").fill("doctor")
    page.get_by_label("Пароль").fill(PASSWORD)
    token = form.locator('input[name="csrf_token"]')
    genuine = token.input_value()
    assert len(genuine) >= 20
    token.evaluate("(el) => { el.value = el.value.slice(0, -6) + "
                   "(el.value.endsWith('AAAAAA') ? 'BBBBBB' : 'AAAAAA'); }")
    assert token.input_value() != genuine

    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.get_by_test_id("login-submit").click()
    assert posted.value.status == 403
    assert posted.value.header_value("set-cookie") is None  # no new session was made
    expect(page.get_by_role("heading", level=1)).to_have_text("Форма устарела")
    expect(page.get_by_test_id("message-error")).to_contain_text("защита от подделки")
    expect(page.get_by_test_id("current-user")).to_have_count(0)
    ui.check(page, "csrf-refused")

    ui.goto(page, "/doctor")  # still nobody
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fdoctor$"))
    ui.finish()


def test_the_session_cookie_flags(ui: Ui, stand: Stand) -> None:
    # what the service documents for its public URL here, and for https
    assert stand.url.startswith("http://127.0.0.1:")
    assert cookie_secure_for(stand.url, "demo") is False
    assert cookie_secure_for("https://medsign.example.ru", "demo") is True
    assert cookie_secure_for("http://127.0.0.1:8000", "production") is True

    page = ui.person("doctor")
    login_page = ui.goto(page, "/login")
    assert login_page is not None
    headers = login_page.headers
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert [c for c in page.context.cookies() if c.get("name") == LOCAL_COOKIE] == []
    anonymous = session_cookie(page, CSRF_COOKIE)  # the login form's token, in its own cookie
    assert_flags(anonymous)
    raw = login_page.header_value("set-cookie") or ""
    assert raw.startswith(f"{CSRF_COOKIE}="), raw
    assert re.search(r"(?i); HttpOnly", raw) and re.search(r"(?i); SameSite=lax", raw), raw
    assert not re.search(r"(?i); Secure", raw), raw
    assert CSRF_COOKIE not in page.evaluate("document.cookie")  # scripts cannot read it

    page.get_by_label("Логин").fill("doctor")
    page.get_by_label("Пароль").fill(PASSWORD)
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.get_by_test_id("login-submit").click()
    assert posted.value.status == 303
    expect(page.get_by_test_id("current-user")).to_contain_text("Петрова Анна Сергеевна")
    signed_in = session_cookie(page)
    assert_flags(signed_in)
    assert signed_in.get("value") != anonymous.get("value"), "the session id must change"
    assert LOCAL_COOKIE not in page.evaluate("document.cookie")
    device = session_cookie(page, DEVICE_COOKIE)
    assert_flags(device)
    days_left = (float(device.get("expires", -1)) - time.time()) / (24 * 3600)
    assert 89 < days_left <= 90, device  # long-lived, not a session cookie
    assert DEVICE_COOKIE not in page.evaluate("document.cookie")
    ui.check(page, "doctor-board")

    page.get_by_test_id("logout").click()
    expect(page).to_have_url(re.compile(r"/login\?msg=logged_out$"))
    after = [c.get("value") for c in page.context.cookies() if c.get("name") == LOCAL_COOKIE]
    assert after == []  # the session is gone; the login form needs none
    assert session_cookie(page, DEVICE_COOKIE).get("value") == device.get("value")  # kept
    ui.check(page, "logged-out")
    ui.finish()
