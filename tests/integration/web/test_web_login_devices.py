"""Device cookies: a browser that logged in to an account before skips that account's delay,
so an attacker who keeps the account behind its delay cannot keep its owner out; a stolen
cookie buys a few guesses and is revoked; a cookie vouches for its own account only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from medsign.accounts import devices as web_devices
from medsign.accounts import sessions
from medsign.clock import FakeClock
from medsign.db.models import AuditRow, LoginDeviceRow, PortalAccountRow, StaffUserRow
from medsign.domain.login_devices import DEVICE
from tests.integration.web import stand

WRONG = "Wrong-Password-1"
DEVICE_COOKIE = "medsign_device"
STAFF = ("doc1", "/login", "/doctor")
PATIENT = ("pat1", "/portal/login", "/portal")


def delayed(r: Response) -> bool:
    return r.status_code == 429 and "Слишком много неудачных попыток" in r.text


def log_out(client: TestClient, home: str) -> None:
    r = client.post("/logout", data={"csrf_token": stand.csrf(client.get(home))})
    assert r.status_code == 303
    assert client.get(home).status_code in (302, 303, 401)  # the session is gone


def came_before(client: TestClient, name: str, path: str, home: str) -> str:
    """The owner logs in from this browser once and leaves; the browser keeps its cookie."""
    stand.logged_in(client, name, path=path)
    log_out(client, home)
    return client.cookies[DEVICE_COOKIE]


def keep_behind_delay(attacker: TestClient, name: str, path: str) -> None:
    """Enough wrong passwords for the account's delay to start (5 free, then 2 s, 4 s …)."""
    for _ in range(8):
        stand.login(attacker, name, WRONG, path=path)
    assert delayed(stand.login(attacker, name, WRONG, path=path))


def devices(engine: Engine) -> list[LoginDeviceRow]:
    with Session(engine) as db:
        return list(db.scalars(select(LoginDeviceRow)))


@pytest.mark.parametrize(("name", "path", "home"), [STAFF, PATIENT], ids=["staff", "patient"])
def test_the_owner_who_logged_in_here_before_logs_in_at_once_while_an_attacker_keeps_failing(
        app: FastAPI, attacker: TestClient, owner: TestClient, seeded: stand.Seeded,
        clock: FakeClock, name: str, path: str, home: str) -> None:
    came_before(owner, name, path, home)
    clock.advance(timedelta(days=10))
    for _ in range(3):  # the attacker waits out every delay and fails again, for hours
        keep_behind_delay(attacker, name, path)
        r = stand.login(owner, name, path=path)  # ... and the owner gets in at once
        assert r.status_code == 303, r.text
        assert owner.get(home).status_code == 200
        # The owner's login did not wipe the account's count: no fresh guesses for anyone.
        assert delayed(stand.login(attacker, name, path=path))
        log_out(owner, home)
        clock.advance(timedelta(minutes=20))
    keep_behind_delay(attacker, name, path)
    with stand.browser(app, "203.0.113.10") as new_browser:  # the owner elsewhere, no cookie: waits
        assert delayed(stand.login(new_browser, name, path=path))


def test_the_device_token_is_stored_as_a_hash_bound_to_its_account(
        owner: TestClient, engine: Engine, seeded: stand.Seeded, clock: FakeClock) -> None:
    token = came_before(owner, *STAFF)
    [row] = devices(engine)
    assert row.token_hash == sessions.digest(token) and token not in row.token_hash
    with Session(engine) as db:
        doc1 = db.scalars(select(StaffUserRow.id).where(StaffUserRow.login == "doc1")).one()
    assert (row.staff_user_id, row.portal_account_id, row.failures) == (doc1, None, 0)
    assert row.created_at == row.last_used_at == clock.now()
    assert row.expires_at == clock.now() + DEVICE.lifetime
    clock.advance(timedelta(days=30))
    stand.logged_in(owner, "doc1")  # the same token again, its life renewed from now
    assert owner.cookies[DEVICE_COOKIE] == token
    [row] = devices(engine)
    assert row.last_used_at == clock.now() and row.expires_at == clock.now() + DEVICE.lifetime
    assert row.created_at == clock.now() - timedelta(days=30)


def test_a_stolen_device_cookie_with_wrong_passwords_is_revoked_after_its_limit(
        app: FastAPI, attacker: TestClient, owner: TestClient, engine: Engine,
        seeded: stand.Seeded) -> None:
    token = came_before(owner, *STAFF)
    keep_behind_delay(attacker, "doc1", "/login")
    with stand.browser(app, "192.0.2.77") as thief:
        thief.cookies.set(DEVICE_COOKIE, token)
        for _ in range(DEVICE.failures):  # judged despite the account's delay ...
            r = stand.login(thief, "doc1", WRONG)
            assert r.status_code == 401 and "Неверный логин или пароль" in r.text
        assert devices(engine) == []  # ... until the token is spent and revoked
        assert delayed(stand.login(thief, "doc1", WRONG))  # now it waits like anyone
        assert delayed(stand.login(thief, "doc1"))  # even with the right password
    assert delayed(stand.login(owner, "doc1"))  # the same cookie no longer helps its owner
    with Session(engine) as db:
        revoked = db.scalars(select(func.count()).select_from(AuditRow).where(
            AuditRow.action == "web.login_wrong",
            AuditRow.details["device_revoked"].as_boolean())).one()
    assert revoked == 1


def test_a_right_password_with_the_device_cookie_starts_its_failures_over(
        owner: TestClient, attacker: TestClient, engine: Engine, seeded: stand.Seeded) -> None:
    came_before(owner, *STAFF)
    keep_behind_delay(attacker, "doc1", "/login")
    for _ in range(2):  # the owner mistypes a few times a round, forever: never revoked
        for _ in range(DEVICE.failures - 1):
            assert stand.login(owner, "doc1", WRONG).status_code == 401
        stand.logged_in(owner, "doc1")
        log_out(owner, "/doctor")
    assert [row.failures for row in devices(engine)] == [0]


def test_a_device_cookie_of_another_account_gives_no_bypass(
        attacker: TestClient, owner: TestClient, engine: Engine, seeded: stand.Seeded) -> None:
    came_before(owner, *STAFF)  # this browser knows doc1 (staff) only
    with Session(engine) as db:
        doc1 = db.scalars(select(StaffUserRow.id).where(StaffUserRow.login == "doc1")).one()
        pat1 = db.scalars(select(PortalAccountRow.id).where(
            PortalAccountRow.login == "pat1")).one()
    assert doc1 == pat1  # same number, other realm: must not vouch across
    keep_behind_delay(attacker, "doc2", "/login")
    keep_behind_delay(attacker, "pat1", "/portal/login")
    assert delayed(stand.login(owner, "doc2"))
    assert delayed(stand.login(owner, "pat1", path="/portal/login"))
    assert [row.failures for row in devices(engine)] == [0]  # nor counted against doc1's


def test_one_browser_keeps_the_tokens_of_several_accounts(
        attacker: TestClient, owner: TestClient, seeded: stand.Seeded) -> None:
    came_before(owner, *STAFF)  # a shared computer in a doctors' office
    came_before(owner, "doc2", "/login", "/doctor")
    assert len(owner.cookies[DEVICE_COOKIE].split(".")) == 2
    keep_behind_delay(attacker, "doc1", "/login")
    keep_behind_delay(attacker, "doc2", "/login")
    for name in ("doc1", "doc2"):
        stand.logged_in(owner, name)
        log_out(owner, "/doctor")


def test_the_per_address_delay_binds_a_device_cookie_too(
        owner: TestClient, seeded: stand.Seeded) -> None:
    came_before(owner, *STAFF)
    for i in range(30):  # the owner's address sprays thirty names
        stand.login(owner, f"guess{i}", WRONG)
    assert delayed(stand.login(owner, "doc1"))


def test_an_expired_device_cookie_vouches_no_more(
        attacker: TestClient, owner: TestClient, clock: FakeClock,
        seeded: stand.Seeded) -> None:
    came_before(owner, *STAFF)
    clock.advance(DEVICE.lifetime)
    keep_behind_delay(attacker, "doc1", "/login")
    assert delayed(stand.login(owner, "doc1"))


def test_no_more_attempts_than_the_limit_are_claimed_with_one_token(
        engine: Engine, clock: FakeClock, owner: TestClient, seeded: stand.Seeded) -> None:
    token = came_before(owner, *STAFF)
    with Session(engine) as db:
        claims = [web_devices.claim(db, token, clock.now()) for _ in range(DEVICE.failures + 2)]
        db.commit()
    assert claims == [True] * DEVICE.failures + [False, False]


def test_a_forged_device_cookie_is_ignored(attacker: TestClient, owner: TestClient,
                                           seeded: stand.Seeded) -> None:
    keep_behind_delay(attacker, "doc1", "/login")
    owner.cookies.set(DEVICE_COOKIE, "A" * 43 + "." + "not a token" + "." + "x" * 5000)
    assert delayed(stand.login(owner, "doc1"))
