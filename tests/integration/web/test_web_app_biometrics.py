"""Biometrics in the app «К врачу» over HTTP: a software platform authenticator registers a
credential for a bound device and logs in with it. An answer without user verification, from
another origin, for another RP ID, with a sign count that did not move on, of another
authenticator, or with a used challenge is refused, and none of them spends a PIN attempt."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from medsign.db.models import AppDeviceRow
from medsign.domain.app_devices import RelyingParty
from medsign.web.config import WebSettings
from tests.integration.web import stand
from tests.integration.web.app_device import Authenticator, Phone, bound_phone

RP = RelyingParty("localhost", "http://localhost:8000")


@pytest.fixture
def web_settings() -> WebSettings:
    return WebSettings(cookie_secure=False, relying_party=RP)


@pytest.fixture
def bound(client: TestClient, seeded: stand.Seeded) -> Phone:
    return bound_phone(client)


@pytest.fixture
def fingerprint() -> Authenticator:
    return Authenticator(RP.id, RP.origin)


def device(engine: Engine) -> AppDeviceRow:
    with Session(engine) as db:
        return db.scalars(select(AppDeviceRow)).one()


def register(bound: Phone, fingerprint: Authenticator, **bend: Any) -> Any:
    """The choice «Вход по отпечатку пальца или Face ID» (the patient is logged in)."""
    stand.logged_in(bound.client, "pat1", path="/portal/login")
    got = bound.post("/app/api/device/webauthn/register/options").json()
    answer = fingerprint.create(got["options"], **bend)
    return bound.post("/app/api/device/webauthn/register",
                      {"challenge": got["challenge"], "credential": answer})


@pytest.fixture
def enrolled(bound: Phone, fingerprint: Authenticator) -> Phone:
    r = register(bound, fingerprint)
    assert r.status_code == 200, r.text
    bound.forget_session()
    return bound


def login(phone: Phone, fingerprint: Authenticator, **bend: Any) -> Any:
    got = phone.post("/app/api/device/webauthn/login/options")
    assert got.status_code == 200, got.text
    answer = fingerprint.get(got.json()["options"], **bend)
    return phone.post("/app/api/device/webauthn/login",
                      {"challenge": got.json()["challenge"], "credential": answer})


def test_registered_biometrics_unlock_the_device_into_a_session(
        enrolled: Phone, fingerprint: Authenticator, engine: Engine) -> None:
    row = device(engine)
    assert row.method == "biometrics" and row.credential_id is not None
    assert "Войти по отпечатку пальца или Face ID" in enrolled.client.get("/app/unlock").text
    r = login(enrolled, fingerprint)
    assert r.status_code == 200, r.text
    assert r.json() == {"next": "/app/home"}
    assert enrolled.client.get("/portal").status_code == 200
    assert device(engine).sign_count == 1
    enrolled.forget_session()
    assert login(enrolled, fingerprint).status_code == 200
    assert device(engine).sign_count == 2


def test_registration_without_user_verification_is_refused(
        bound: Phone, fingerprint: Authenticator, engine: Engine) -> None:
    r = register(bound, fingerprint, verified=False)
    assert r.status_code == 422 and r.json()["code"] == "biometrics_refused"
    assert device(engine).credential_id is None and device(engine).method == "pin"
    r = bound.post("/app/api/device/method", {"method": "biometrics"})
    assert r.status_code == 409  # nothing to choose yet


@pytest.mark.parametrize("bend", [
    {"verified": False},  # no fingerprint, no face: presence alone is not enough
    {"origin": "http://evil.example"},
    {"rp_id": "evil.example"},
    {"step": 0},  # the sign count did not move on: a cloned authenticator
], ids=["no-uv", "origin", "rp-id", "sign-count"])
def test_a_bent_answer_is_refused_and_spends_no_pin_attempt(
        enrolled: Phone, fingerprint: Authenticator, engine: Engine,
        bend: dict[str, Any]) -> None:
    assert login(enrolled, fingerprint).status_code == 200  # the count is 1 now
    enrolled.forget_session()
    r = login(enrolled, fingerprint, **bend)
    assert r.status_code == 403 and r.json()["code"] == "biometrics_refused", r.text
    assert enrolled.client.get("/portal").status_code in (302, 303)
    assert device(engine).failures == 0 and device(engine).sign_count == 1


def test_another_authenticators_credential_is_refused(
        enrolled: Phone, fingerprint: Authenticator) -> None:
    impostor = Authenticator(RP.id, RP.origin, credential_id=fingerprint.credential_id)
    r = login(enrolled, impostor)  # the same id, another key
    assert r.status_code == 403
    stranger = Authenticator(RP.id, RP.origin)
    assert login(enrolled, stranger).status_code == 403


def test_a_challenge_is_used_once(enrolled: Phone, fingerprint: Authenticator) -> None:
    got = enrolled.post("/app/api/device/webauthn/login/options").json()
    body = {"challenge": got["challenge"], "credential": fingerprint.get(got["options"])}
    assert enrolled.post("/app/api/device/webauthn/login", body).status_code == 200
    enrolled.forget_session()
    again = enrolled.post("/app/api/device/webauthn/login", body)
    assert again.status_code == 409 and again.json()["code"] == "challenge_expired"


def test_the_patient_may_keep_the_pin(bound: Phone, engine: Engine) -> None:
    stand.logged_in(bound.client, "pat1", path="/portal/login")
    r = bound.post("/app/api/device/method", {"method": "pin"})
    assert r.status_code == 200 and r.json() == {"next": "/app/home"}
    assert device(engine).method == "pin"
    bound.forget_session()
    assert "unlock-biometrics" not in bound.client.get("/app/unlock").text


def test_without_a_relying_party_biometrics_is_not_offered(
        client: TestClient, seeded: stand.Seeded, app: Any) -> None:
    app.state.web = WebSettings(cookie_secure=False)  # e.g. a site reached by IP address
    made = bound_phone(client)
    stand.logged_in(client, "pat1", path="/portal/login")
    r = made.post("/app/api/device/webauthn/register/options")
    assert r.status_code == 403 and r.json()["code"] == "biometrics_off"
