"""Login limits that cannot lock an owner out: a growing delay per account and per address,
and the client address taken from ``X-Forwarded-For`` only behind a trusted proxy."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from medsign.app import create_app
from medsign.clock import FakeClock
from medsign.db.models import LoginThrottleRow
from medsign.domain.login_limits import parse_networks
from medsign.web.config import WebSettings
from tests.integration.web import stand

WRONG = "Wrong-Password-1"


def delayed(r: Response, wait: str) -> bool:
    return (r.status_code == 429 and "Слишком много неудачных попыток" in r.text
            and f"через {wait}" in r.text and "не заблокирован" in r.text)


def test_the_owner_logs_in_while_an_attacker_keeps_failing(
        attacker: TestClient, owner: TestClient, seeded: stand.Seeded,
        clock: FakeClock) -> None:
    for _ in range(4):
        r = stand.login(attacker, "doc1", WRONG)
        assert r.status_code == 401 and "через" not in r.text
    r = stand.login(attacker, "doc1", WRONG)  # the fifth: from now on each try waits
    assert r.status_code == 401 and "Следующую попытку можно сделать через 2 с" in r.text
    assert delayed(stand.login(attacker, "doc1", WRONG), "2 с")  # too soon: not even checked
    waits = []
    for seconds in (2, 4, 8, 16, 32, 64):  # the attacker waits out each delay and fails again
        clock.advance(timedelta(seconds=seconds))
        assert stand.login(attacker, "doc1", WRONG).status_code == 401
        waits.append(stand.login(attacker, "doc1", WRONG))
    expected = ["4 с", "8 с", "16 с", "32 с", "2 мин", "3 мин"]  # 64 s and 128 s, rounded up
    assert [delayed(r, w) for r, w in zip(waits, expected, strict=True)] == [True] * 6
    assert delayed(stand.login(owner, "doc1"), "3 мин")  # the owner waits too, told how long
    clock.advance(timedelta(seconds=128))  # ... but only that long: a delay, not a lock
    assert stand.login(owner, "doc1").status_code == 303
    assert owner.get("/doctor").status_code == 200
    r = stand.login(attacker, "doc1", WRONG)  # a success wiped the account's count
    assert r.status_code == 401 and "через" not in r.text


def test_a_login_and_its_e_mail_are_one_account(app: FastAPI, attacker: TestClient,
                                                owner: TestClient, seeded: stand.Seeded,
                                                clock: FakeClock) -> None:
    for name in ("pat1", "PAT1@example.org", "pat1", "pat1@example.org", " Pat1 "):
        stand.login(attacker, name, WRONG, path="/portal/login")
    assert delayed(stand.login(owner, "pat1@example.org", path="/portal/login"), "2 с")
    assert stand.login(owner, "pat3", path="/portal/login").status_code == 303  # others: free
    clock.advance(timedelta(seconds=2))
    with stand.browser(app) as fresh:
        assert stand.login(fresh, "pat1", path="/portal/login").status_code == 303


def test_an_address_gets_a_delay_of_its_own_per_realm(
        app: FastAPI, attacker: TestClient, owner: TestClient, seeded: stand.Seeded,
        clock: FakeClock) -> None:
    for i in range(30):  # thirty different names: no account reaches its delay
        assert stand.login(attacker, f"guess{i}", WRONG).status_code == 401
    assert delayed(stand.login(attacker, "op"), "2 с")
    assert stand.login(owner, "op").status_code == 303  # other addresses are not slowed
    with stand.browser(app, "198.51.100.66") as patient:
        assert stand.login(patient, "pat1", path="/portal/login").status_code == 303
    clock.advance(timedelta(seconds=2))
    assert stand.login(attacker, "op").status_code == 303


def test_the_delay_is_shared_by_every_process(app: FastAPI, engine: Engine, clock: FakeClock,
                                              seeded: stand.Seeded) -> None:
    other = create_app(engine, clock=clock, web=WebSettings(cookie_secure=False))
    with stand.browser(app) as one, stand.browser(other) as two:
        for c in (one, two, one, two, one):
            stand.login(c, "doc1", WRONG)
        assert delayed(stand.login(two, "doc1"), "2 с")


def addresses(engine: Engine) -> set[str]:
    with Session(engine) as db:
        return set(db.scalars(select(LoginThrottleRow.key)
                              .where(LoginThrottleRow.scope == "address:staff")))


@pytest.fixture
def behind_proxy(engine: Engine, clock: FakeClock) -> FastAPI:
    settings = WebSettings(cookie_secure=False,
                           trusted_proxies=parse_networks(["10.0.0.0/8", "127.0.0.1"]))
    return create_app(engine, clock=clock, web=settings)


def test_x_forwarded_for_is_believed_only_from_a_trusted_proxy(
        behind_proxy: FastAPI, engine: Engine, seeded: stand.Seeded) -> None:
    forged = {"X-Forwarded-For": "192.0.2.1, 198.51.100.7"}
    with stand.browser(behind_proxy, "10.0.0.5", forged) as via_nginx, \
            stand.browser(behind_proxy, "203.0.113.99", forged) as direct:
        stand.login(via_nginx, "doc1", WRONG)
        stand.login(direct, "doc1", WRONG)
    # Through nginx: the right-most address it appended; the client's own "192.0.2.1" never.
    # Straight from the internet: the peer, whatever the header claims.
    assert addresses(engine) == {"198.51.100.7", "203.0.113.99"}


def test_without_trusted_proxies_the_header_is_ignored(app: FastAPI, engine: Engine,
                                                       seeded: stand.Seeded) -> None:
    with stand.browser(app, "10.0.0.5", {"X-Forwarded-For": "198.51.100.7"}) as c:
        stand.login(c, "doc1", WRONG)
    assert addresses(engine) == {"10.0.0.5"}
