"""Quick login in the app «К врачу» over HTTP with real keys: a P-256 key pair made here
stands for the browser's non-extractable one and signs the challenges as WebCrypto would (raw
r‖s). Wrong PINs up to the limit unbind the device; a reused or expired challenge, a signature
by another key, an unknown device and an account that may not unlock are all refused."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from medsign.accounts import app_devices, patient_accounts
from medsign.clock import FakeClock
from medsign.db.models import AppDeviceChallengeRow, AppDeviceRow, AuditRow, PortalAccountRow
from medsign.domain.app_devices import Purpose
from tests.integration.web import stand
from tests.integration.web.app_device import COOKIE, HOST, PIN, Phone, bound_phone, phone


@pytest.fixture
def bound(client: TestClient, seeded: stand.Seeded) -> Phone:
    return bound_phone(client)


def rows(engine: Engine) -> list[AppDeviceRow]:
    with Session(engine) as db:
        return list(db.scalars(select(AppDeviceRow)))


def audit_actions(engine: Engine) -> list[str]:
    with Session(engine) as db:
        return list(db.scalars(select(AuditRow.action).where(AuditRow.subject_type ==
                                                             "app_device").order_by(AuditRow.id)))


def test_a_bound_device_unlocks_with_its_key_and_pin_into_a_portal_session(
        bound: Phone, engine: Engine) -> None:
    assert bound.client.get("/portal").status_code in (302, 303)  # no session now
    assert bound.client.get("/app/unlock").status_code == 200
    r = bound.unlock()
    assert r.status_code == 200, r.text
    assert r.json() == {"next": "/app/home"}
    assert bound.client.get("/portal").status_code == 200  # a normal portal session
    (row,) = rows(engine)
    assert row.failures == 0 and row.method == "pin"
    assert row.pin_hash != PIN and row.pin_hash.startswith("$argon2")
    assert audit_actions(engine) == ["app.device_bound", "app.unlock"]
    # the welcome page of a bound device goes straight to the app's start screen
    assert bound.client.get("/app/welcome").headers["location"] == "/app/home"


def test_wrong_pins_count_down_and_the_last_one_unbinds_the_device(
        bound: Phone, engine: Engine) -> None:
    for left in (4, 3, 2, 1):
        r = bound.unlock("0000")
        assert r.status_code == 401, r.text
        assert r.json()["attempts_left"] == left
        assert r.json()["detail"] == f"Неверный PIN-код. Осталось попыток: {left}."
    r = bound.unlock("0000")
    assert r.status_code == 403 and r.json()["code"] == "unbound"
    assert r.json()["next"] == "/app/login"
    assert rows(engine) == []
    assert COOKIE not in bound.client.cookies  # the browser is told to forget it
    assert bound.client.get("/app/unlock").headers["location"] == "/app/login"
    assert "app.device_unbound" in audit_actions(engine)


def test_a_right_pin_starts_the_count_over(bound: Phone, engine: Engine) -> None:
    for _ in range(4):
        assert bound.unlock("1111").status_code == 401
    assert bound.unlock().status_code == 200
    assert rows(engine)[0].failures == 0
    bound.forget_session()
    assert bound.unlock("1111").json()["attempts_left"] == 4


def test_a_challenge_is_used_once(bound: Phone, engine: Engine) -> None:
    got = bound.challenge()
    body = {"challenge": got["challenge"], "pin": PIN,
            "signature": bound.sign(got["device_id"], got["challenge"])}
    assert bound.post("/app/api/device/unlock", body).status_code == 200
    bound.forget_session()
    again = bound.post("/app/api/device/unlock", body)
    assert again.status_code == 409 and again.json()["code"] == "challenge_expired"


def test_a_new_challenge_replaces_the_previous_one(bound: Phone, engine: Engine) -> None:
    first = bound.challenge()
    for _ in range(20):  # anyone with the cookie may ask; the table does not grow
        second = bound.challenge()
    with Session(engine) as db:
        assert len(db.scalars(select(AppDeviceChallengeRow)).all()) == 1
    r = bound.post("/app/api/device/unlock", {
        "challenge": first["challenge"], "pin": PIN,
        "signature": bound.sign(first["device_id"], first["challenge"])})
    assert r.status_code == 409
    r = bound.post("/app/api/device/unlock", {
        "challenge": second["challenge"], "pin": PIN,
        "signature": bound.sign(second["device_id"], second["challenge"])})
    assert r.status_code == 200


def test_an_expired_challenge_is_refused(bound: Phone, clock: FakeClock, engine: Engine) -> None:
    got = bound.challenge()
    clock.advance(timedelta(minutes=2, seconds=1))
    r = bound.post("/app/api/device/unlock", {
        "challenge": got["challenge"], "pin": PIN,
        "signature": bound.sign(got["device_id"], got["challenge"])})
    assert r.status_code == 409
    assert rows(engine)[0].failures == 0


def test_a_signature_by_another_key_is_refused_and_spends_no_attempt(
        bound: Phone, engine: Engine) -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    for pin in (PIN, "0000"):
        got = bound.challenge()
        r = bound.post("/app/api/device/unlock", {
            "challenge": got["challenge"], "pin": pin,
            "signature": bound.sign(got["device_id"], got["challenge"], other)})
        assert r.status_code == 403 and r.json()["code"] == "not_this_device"
    assert rows(engine)[0].failures == 0
    assert bound.client.get("/portal").status_code in (302, 303)


def test_a_signature_over_another_device_id_is_refused(bound: Phone) -> None:
    got = bound.challenge()
    r = bound.post("/app/api/device/unlock", {
        "challenge": got["challenge"], "pin": PIN,
        "signature": bound.sign("A" * 22, got["challenge"])})
    assert r.status_code == 403


def test_an_unknown_device_is_refused(bound: Phone) -> None:
    bound.client.cookies.set(COOKIE, "B" * 22, domain=HOST)
    r = bound.post("/app/api/device/challenge")
    assert r.status_code == 403 and r.json()["code"] == "not_bound"
    assert bound.client.get("/app/unlock").headers["location"] == "/app/login"


def test_an_account_that_may_not_unlock_is_refused(bound: Phone,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    got = bound.challenge()
    monkeypatch.setattr(app_devices, "may_unlock", lambda account: False)
    r = bound.post("/app/api/device/unlock", {
        "challenge": got["challenge"], "pin": PIN,
        "signature": bound.sign(got["device_id"], got["challenge"])})
    assert r.status_code == 403 and r.json()["code"] == "not_bound"
    assert bound.client.get("/portal").status_code in (302, 303)


def test_an_expired_device_is_refused(bound: Phone, clock: FakeClock) -> None:
    clock.advance(timedelta(days=181))
    assert bound.post("/app/api/device/challenge").status_code == 403


def test_logout_unbinds_this_device(bound: Phone, engine: Engine) -> None:
    assert bound.unlock().status_code == 200
    r = bound.client.post("/logout", data={"csrf_token": stand.csrf(bound.client.get("/portal"))})
    assert r.status_code == 303
    assert rows(engine) == []
    assert COOKIE not in bound.client.cookies


def test_unbind_all_removes_every_device_of_the_account(
        bound: Phone, app: FastAPI, engine: Engine, clock: FakeClock) -> None:
    with TestClient(app, follow_redirects=False) as second_client:
        second = phone(second_client)
        stand.logged_in(second_client, "pat1", path="/portal/login")
        assert second.bind("1357").status_code == 200
    assert len(rows(engine)) == 2
    with Session(engine) as db:
        account = db.scalars(select(PortalAccountRow).where(PortalAccountRow.login == "pat1")).one()
        assert app_devices.unbind_all(db, account_id=account.id, actor="admin:adm",
                                      now=clock.now()) == 2
        db.commit()
        assert db.scalars(select(AppDeviceChallengeRow)).all() == []
    assert rows(engine) == []
    assert bound.post("/app/api/device/challenge").status_code == 403


def test_an_administrators_disable_unbinds_the_devices_and_refuses_quick_login(
        bound: Phone, engine: Engine, clock: FakeClock) -> None:
    got = bound.challenge()  # the phone holds a live challenge when the account is disabled
    with Session(engine) as db:
        patient_accounts.disable(db, name="pat1", actor="admin:adm", now=clock.now())
        db.commit()
    assert rows(engine) == []
    r = bound.post("/app/api/device/unlock", {
        "challenge": got["challenge"], "pin": PIN,
        "signature": bound.sign(got["device_id"], got["challenge"])})
    assert r.status_code == 403
    assert bound.client.get("/portal").status_code in (302, 303)
    assert "app.device_unbound" in audit_actions(engine)


def test_a_disabled_account_may_not_unlock(seeded: stand.Seeded, engine: Engine,
                                           clock: FakeClock) -> None:
    with Session(engine) as db:
        account = db.scalars(select(PortalAccountRow)).first()
        assert account is not None and app_devices.may_unlock(account)
        account.disabled_at = clock.now()
        assert not app_devices.may_unlock(account)
        assert not app_devices.may_unlock(None)


@pytest.mark.parametrize(("body", "code"), [
    ({"pin": "12a4"}, "bad_pin"), ({"pin": "12345"}, "bad_pin"), ({"pin": ""}, "bad_pin"),
    ({"public_key": "bm90IGEga2V5"}, "bad_public_key"),
    ({"public_key": base64.b64encode(
        ec.generate_private_key(ec.SECP384R1()).public_key().public_bytes(
            Encoding.DER, PublicFormat.SubjectPublicKeyInfo)).decode()}, "bad_public_key"),
])
def test_binding_refuses_bad_input_and_changes_nothing(
        client: TestClient, seeded: stand.Seeded, engine: Engine, body: dict[str, str],
        code: str) -> None:
    stand.logged_in(client, "pat1", path="/portal/login")
    made = phone(client)
    r = made.post("/app/api/device/bind", {"public_key": made.public_key, "pin": PIN, **body})
    assert r.status_code == 422 and r.json()["code"] == code, r.text
    assert r.json()["detail"]  # a Russian message the page shows
    assert rows(engine) == []


def test_binding_needs_a_session_and_the_csrf_token(client: TestClient,
                                                    seeded: stand.Seeded) -> None:
    made = phone(client)
    r = made.bind()
    assert r.status_code == 401 and r.json()["code"] == "login_required"
    stand.logged_in(client, "pat1", path="/portal/login")
    r = client.post("/app/api/device/bind", json={"public_key": made.public_key, "pin": PIN})
    assert r.status_code == 403 and r.json()["code"] == "csrf"
    assert "application/problem+json" in r.headers["content-type"]


def test_the_welcome_page_wants_a_logged_in_patient(client: TestClient,
                                                    seeded: stand.Seeded) -> None:
    r = client.get("/app/welcome")
    assert r.status_code == 303 and r.headers["location"].startswith("/app/login")


def test_attempts_are_claimed_before_the_pin_is_judged(bound: Phone, engine: Engine,
                                                       clock: FakeClock) -> None:
    """Seven attempts in flight at once (each claimed, none judged yet): five are let
    through to the PIN check, the rest are refused before it."""
    device_id = bound.client.cookies[COOKIE]
    claims = []
    for _ in range(7):
        with Session(engine) as db:
            challenge = app_devices.issue_challenge(db, device_id=device_id,
                                                    purpose=Purpose.unlock, now=clock.now())
            claims.append(app_devices.claim_pin_attempt(
                db, device_id=device_id, challenge=challenge,
                signature=bound.sign(device_id, challenge), now=clock.now()))
            db.commit()
    assert [isinstance(c, app_devices.Claimed) for c in claims] == [True] * 5 + [False] * 2
    judged = [c for c in claims if isinstance(c, app_devices.Claimed)]
    with Session(engine) as db:  # the slow checks come back: the first one wrong …
        first = app_devices.settle_pin(db, judged[0], False, now=clock.now())
        db.commit()
    assert first.outcome is app_devices.Outcome.unbound  # five counted: the limit
    assert rows(engine) == []
    with Session(engine) as db:  # … and a right one after it no longer opens anything
        late = app_devices.settle_pin(db, judged[1], True, now=clock.now())
        db.commit()
    assert late.outcome is app_devices.Outcome.unbound
    assert audit_actions(engine).count("app.device_unbound") == 1


def test_binding_again_replaces_this_browsers_device_and_bad_input_keeps_it(
        bound: Phone, engine: Engine) -> None:
    stand.logged_in(bound.client, "pat1", path="/portal/login")
    (before,) = rows(engine)
    assert bound.bind("12x4").status_code == 422
    assert [r.id for r in rows(engine)] == [before.id]  # nothing changed
    renewed = phone(bound.client)
    r = renewed.bind("8080")
    assert r.status_code == 200
    assert [row.id for row in rows(engine)] == [r.json()["device_id"]] != [before.id]
    assert "rebound" in str(audit_details(engine))
    renewed.forget_session()
    assert renewed.unlock("8080").status_code == 200


def audit_details(engine: Engine) -> list[object]:
    with Session(engine) as db:
        return list(db.scalars(select(AuditRow.details).where(
            AuditRow.action == "app.device_unbound")))
