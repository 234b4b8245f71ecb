"""Who may see what: a doctor sees only their organisation (also by guessing addresses),
roles guard the console, a patient sees only their own documents, and web sessions and API
tokens never stand in for each other."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from medsign.clock import FakeClock
from medsign.db.models import SigningRequestRow
from tests import factories
from tests.integration.web import stand


def test_a_doctor_sees_only_their_organisations_appointments(
        client: TestClient, seeded: stand.Seeded) -> None:
    page = stand.logged_in(client, "doc1").get("/doctor").text
    assert 'data-appointment="a1"' in page and 'data-appointment="a2"' not in page  # tomorrow
    assert 'data-appointment="a3"' not in page and "Кузнецова" not in page
    assert 'data-appointment="a2"' in client.get("/doctor", params={"date": "2026-03-11"}).text
    for day in ("2026-03-10", "2026-03-11", "2026-03-13"):  # mo2's a3 is today in its zone too
        assert 'data-appointment="a3"' not in client.get("/doctor", params={"date": day}).text


def test_the_other_doctor_sees_the_other_organisation(client: TestClient,
                                                      seeded: stand.Seeded) -> None:
    page = stand.logged_in(client, "doc2").get("/doctor").text
    assert 'data-appointment="a3"' in page and "Иванова" not in page


@pytest.mark.parametrize("path", [
    "/doctor/organizations/mo2/appointments/a3", "/doctor/organizations/mo2/appointments/a3/sign",
    "/doctor/organizations/mo1/appointments/a3",  # mo2's id under the doctor's own МО
    "/doctor/organizations/mo1/appointments/no-such-appointment",
])
def test_guessing_an_appointment_of_another_organisation_is_not_found(
        client: TestClient, seeded: stand.Seeded, path: str) -> None:
    r = stand.logged_in(client, "doc1").get(path)
    assert r.status_code == 404 and "Страница не найдена" in r.text
    assert "Кузнецова" not in r.text


def test_starting_signing_of_another_organisations_appointment_is_not_found(
        client: TestClient, seeded: stand.Seeded, engine: Engine) -> None:
    stand.logged_in(client, "doc1")
    token = stand.token_of(client, "/doctor")
    r = client.post("/doctor/organizations/mo2/appointments/a3/sign", data={"csrf_token": token})
    assert r.status_code == 404
    with Session(engine) as db:
        assert db.scalar(select(func.count()).select_from(SigningRequestRow)) == 0


def test_guessing_a_request_of_another_organisation_is_not_found(
        client: TestClient, seeded: stand.Seeded, engine: Engine, clock: FakeClock) -> None:
    foreign = stand.start_signing(engine, "a3", clock.now())
    stand.complete(engine, foreign, clock.now())
    stand.logged_in(client, "doc1")
    for path in (f"/doctor/requests/{foreign}/documents/1", f"/doctor/requests/{foreign}/evidence",
                 "/doctor/requests/00000000-0000-0000-0000-000000000000/documents/1"):
        r = client.get(path)
        assert r.status_code == 404, path
        assert "PDF" not in r.headers.get("content-type", "")


def test_a_patient_cannot_download_another_patients_documents(
        client: TestClient, seeded: stand.Seeded, engine: Engine, clock: FakeClock) -> None:
    foreign = stand.start_signing(engine, "a3", clock.now())
    stand.complete(engine, foreign, clock.now())
    stand.logged_in(client, "pat1", path="/portal/login")
    assert client.get(f"/portal/requests/{foreign}/documents/1").status_code == 404
    assert "Кузнецова" not in client.get("/portal").text


@pytest.mark.parametrize(("login", "path", "status"), [
    ("doc1", "/console", 403), ("doc1", "/console/requests", 403),
    ("doc1", "/console/users", 403), ("op", "/doctor", 403), ("op", "/console/users", 403),
    ("op", "/console", 200), ("adm", "/console/users", 200), ("adm", "/console/audit", 200),
])
def test_roles_guard_the_pages(client: TestClient, seeded: stand.Seeded, login: str, path: str,
                               status: int) -> None:
    r = stand.logged_in(client, login).get(path)
    assert r.status_code == status
    if status == 403:
        assert "Доступ запрещён" in r.text


def test_a_patient_is_not_staff_and_staff_is_not_a_patient(
        new_client: Callable[[], TestClient], seeded: stand.Seeded) -> None:
    patient = stand.logged_in(new_client(), "pat1", path="/portal/login")
    assert patient.get("/doctor").status_code == 303
    assert patient.get("/console").headers["location"].startswith("/login")
    doctor = stand.logged_in(new_client(), "doc1")
    assert doctor.get("/portal").headers["location"].startswith("/portal/login")


def test_pages_without_a_session_send_to_the_login_page(client: TestClient,
                                                        seeded: stand.Seeded) -> None:
    r = client.get("/doctor?q=x")
    assert r.status_code == 303 and r.headers["location"] == "/login?next=%2Fdoctor%3Fq%3Dx"
    assert client.get("/doctor/board", headers={"X-Requested-With": "medsign-refresh"}
                      ).status_code == 401


def test_the_web_ignores_bearer_tokens(client: TestClient, seeded: stand.Seeded,
                                       engine: Engine) -> None:
    token = factories.token(engine)
    assert client.get("/api/v1/signing-requests",
                      headers={"Authorization": f"Bearer {token}"}).status_code == 200
    r = client.get("/doctor", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 303


def test_the_api_ignores_web_sessions(client: TestClient, seeded: stand.Seeded) -> None:
    stand.logged_in(client, "adm")
    assert client.get("/console").status_code == 200
    r = client.get("/api/v1/signing-requests")
    assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
