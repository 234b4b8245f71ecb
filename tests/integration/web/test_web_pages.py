"""Every page, as each kind of user sees it, passes the structural accessibility check and
carries the security headers."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from medsign.clock import FakeClock
from tests.integration.web import stand
from tests.integration.web.a11y import check

PAGES = {
    None: ["/", "/login", "/portal/login", "/support", "/support?ref=abc-1&page=/doctor",
           "/doctor/no/such/page", "/login?msg=logged_out"],
    "doc1": ["/doctor", "/doctor?q=иван", "/doctor/organizations/mo1/appointments/a1",
             "/doctor/organizations/mo1/appointments/a1/sign",
             "/doctor/organizations/mo1/appointments/a2/sign",
             "/doctor/organizations/mo2/appointments/a3", "/console"],
    "op": ["/console", "/console/requests", "/console/requests?view=stuck",
           "/console/requests?view=failed", "/console/requests/{request}",
           "/console/requests/{failed}", "/console/notifications", "/console/audit",
           "/console/support", "/console/support?status=closed"],
    "adm": ["/console/users"],
    "pat1": ["/portal", "/portal/max", "/portal/documents",
             "/portal/organizations/mo1/appointments/a4/paper",
             "/portal/organizations/mo1/appointments/a1/paper", "/app/home", "/app/documents",
             "/app/max", "/app/support", "/app/organizations/mo1/appointments/a4/paper"],
}
FRAGMENTS = {"doc1": ["/doctor/board"], "op": ["/console/overview"],
             "pat1": ["/app/home/live", "/portal/live"]}


@pytest.fixture
def requests(engine: Engine, clock: FakeClock, seeded: stand.Seeded) -> dict[str, str]:
    done = stand.start_signing(engine, "a1", clock.now())
    stand.complete(engine, done, clock.now())
    failed = stand.start_signing(engine, "a2", clock.now())
    stand.fail(engine, failed, clock.now())
    return {"request": done, "failed": failed}


@pytest.mark.parametrize("who", list(PAGES))
def test_every_page_passes_the_structural_check(new_client: Callable[[], TestClient],
                                                requests: dict[str, str],
                                                who: str | None) -> None:
    client = new_client()
    if who is not None:
        stand.logged_in(client, who, path="/portal/login" if who.startswith("pat") else "/login")
    for path in PAGES[who]:
        r = client.get(path.format(**requests))
        assert r.status_code in (200, 403, 404), (path, r.status_code)
        assert r.headers["content-type"].startswith("text/html")
        assert check(r.text) == [], path
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
        assert r.headers["cache-control"] == "no-store"
    for path in FRAGMENTS.get(who or "", []):
        r = client.get(path, headers={"X-Requested-With": "medsign-refresh"})
        assert r.status_code == 200 and check(r.text, fragment=True) == [], path


def test_pages_after_a_post_pass_too(client: TestClient, seeded: stand.Seeded) -> None:
    stand.logged_in(client, "pat1", path="/portal/login")
    page = client.get("/portal/max")
    issued = client.post("/portal/max/link", data={"csrf_token": stand.csrf(page),
                                                   "organization": "mo1", "patient": "p1"})
    assert check(issued.text) == []
    client.cookies.clear()
    failed = stand.login(client, "doc1", "Wrong-Password-1")
    assert check(failed.text) == []


def test_static_files_are_served_without_a_build(client: TestClient) -> None:
    css = client.get("/static/medsign.css")
    js = client.get("/static/medsign.js")
    assert css.status_code == 200 and ":focus-visible" in css.text
    assert "@media (max-width: 40rem)" in css.text  # tables become cards on phones
    assert js.status_code == 200 and "X-CSRF-Token" in js.text
