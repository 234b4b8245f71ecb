from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from medsign.app import create_app
from medsign.db.models import AuditRow, SigningRequestRow, WorkItemRow
from tests import factories as f
from tests.identities import Identities


@pytest.fixture
def client(engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(engine, identities=Identities()),
                    raise_server_exceptions=False) as c:
        c.headers["Authorization"] = f"Bearer {f.token(engine)}"
        yield c


def seed(client: TestClient, org: str = "mo1", pid: str = "p1", aid: str = "a1") -> None:
    assert client.put(f"/api/v1/organizations/{org}", json=f.organization()).status_code in (200,
                                                                                              201)
    assert client.put(f"/api/v1/organizations/{org}/patients/{pid}",
                      json=f.patient(org)).status_code in (200, 201)
    r = client.put(f"/api/v1/organizations/{org}/appointments/{aid}", json=f.appointment(org, pid))
    assert r.status_code in (200, 201), r.text


def test_upserts_create_then_update_idempotently(client: TestClient) -> None:
    first = client.put("/api/v1/organizations/mo1", json=f.organization())
    again = client.put("/api/v1/organizations/mo1", json=f.organization())
    assert (first.status_code, again.status_code) == (201, 200)
    r = client.put("/api/v1/organizations/mo1/patients/p1", json=f.patient())
    assert r.status_code == 201 and r.json()["phone"] == "+79991234567"
    r = client.put("/api/v1/organizations/mo1/appointments/a1", json=f.appointment())
    assert r.status_code == 201
    assert {c["kind"]: c["state"] for c in r.json()["consents"]} == {
        "medical_intervention": "pending", "personal_data": "pending",
        "paid_services_contract": "pending"}


def test_a_bad_phone_is_a_422_with_a_specific_code(client: TestClient) -> None:
    client.put("/api/v1/organizations/mo1", json=f.organization())
    r = client.put("/api/v1/organizations/mo1/patients/p1", json=f.patient(phone="+1 555 0100"))
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "invalid_phone"


def test_a_wrong_ogrn_checksum_is_refused(client: TestClient) -> None:
    r = client.put("/api/v1/organizations/mo1", json=f.organization(ogrn="1027700132190"))
    assert r.status_code == 422 and r.json()["code"] == "invalid_ogrn"


def test_malformed_json_is_a_400_problem(client: TestClient) -> None:
    r = client.put("/api/v1/organizations/mo1", content=b"{not json",
                   headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["code"] == "malformed_json"


def test_no_token_is_401_with_www_authenticate(engine: Engine) -> None:
    with TestClient(create_app(engine, identities=Identities())) as c:
        r = c.get("/api/v1/signing-requests")
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"


def test_starting_signing_creates_one_request_and_one_work_item(client: TestClient,
                                                                 engine: Engine) -> None:
    seed(client)
    r = client.post("/api/v1/organizations/mo1/appointments/a1/signing-requests",
                    headers={"Idempotency-Key": "k1"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["state"] == "new" and body["consents"] == ["medical_intervention",
                                                           "personal_data"]
    replay = client.post("/api/v1/organizations/mo1/appointments/a1/signing-requests",
                         headers={"Idempotency-Key": "k1"})
    assert replay.status_code == 201 and replay.json()["id"] == body["id"]
    again = client.post("/api/v1/organizations/mo1/appointments/a1/signing-requests")
    assert again.status_code == 409 and again.json()["code"] == "signing_request_active"
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(SigningRequestRow)) == 1
        assert conn.scalar(select(func.count()).select_from(WorkItemRow)) == 1
    detail = client.get(f"/api/v1/signing-requests/{body['id']}").json()
    assert [h["to_state"] for h in detail["history"]] == ["new"]


def test_cancelling_the_appointment_cancels_its_signing(client: TestClient,
                                                        engine: Engine) -> None:
    seed(client)
    rid = client.post("/api/v1/organizations/mo1/appointments/a1/signing-requests").json()["id"]
    r = client.put("/api/v1/organizations/mo1/appointments/a1",
                   json=f.appointment(status="cancelled"))
    assert r.status_code == 200, r.text
    detail = client.get(f"/api/v1/signing-requests/{rid}").json()
    assert detail["state"] == "cancelled"
    with engine.connect() as conn:
        assert conn.scalar(select(WorkItemRow.status)) == "cancelled"


def test_list_paginates_with_a_cursor_and_filters(client: TestClient) -> None:
    client.put("/api/v1/organizations/mo1", json=f.organization())
    client.put("/api/v1/organizations/mo1/patients/p1", json=f.patient())
    ids = []
    for i in range(5):
        client.put(f"/api/v1/organizations/mo1/appointments/a{i}", json=f.appointment())
        ids.append(client.post(f"/api/v1/organizations/mo1/appointments/a{i}/signing-requests").json()["id"])
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/api/v1/signing-requests", params=params).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(ids) and len(seen) == 5
    assert client.get("/api/v1/signing-requests", params={"state": "completed"}).json()[
        "items"] == []
    assert client.get("/api/v1/signing-requests", params={"cursor": "garbage"}).status_code == 422


def test_a_token_limited_to_one_organization_sees_nothing_of_another(client: TestClient,
                                                                      engine: Engine) -> None:
    seed(client, "mo1", "p1", "a1")
    seed(client, "mo2", "p2", "a2")
    client.post("/api/v1/organizations/mo2/appointments/a2/signing-requests")
    limited = client.headers.copy()
    limited["Authorization"] = f"Bearer {f.token(engine, 'mo1-only', ['mo1'])}"
    assert client.get("/api/v1/organizations/mo2/patients/p2", headers=limited).status_code == 404
    assert client.get("/api/v1/organizations/mo2/appointments/a2",
                      headers=limited).status_code == 404
    assert client.post("/api/v1/organizations/mo2/appointments/a2/signing-requests",
                       headers=limited).status_code == 404
    assert client.put("/api/v1/organizations/mo2", json=f.organization(),
                      headers=limited).status_code == 404
    # The same id in its own organisation is a different patient: nothing is taken or shown.
    assert client.put("/api/v1/organizations/mo1/patients/p2", json=f.patient("mo1"),
                      headers=limited).status_code == 201
    assert client.get("/api/v1/signing-requests", headers=limited).json()["items"] == []
    assert client.get("/api/v1/signing-requests", params={"organization": "mo2"},
                      headers=limited).status_code == 404


def test_every_change_is_audited(client: TestClient, engine: Engine) -> None:
    seed(client)
    with engine.connect() as conn:
        actions = set(conn.scalars(select(AuditRow.action)))
    assert {"organization.created", "patient.created", "appointment.created"} <= actions


def test_health_readiness_and_metrics(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"database": True,
                                                                   "migrations": True}
    seed(client)
    client.post("/api/v1/organizations/mo1/appointments/a1/signing-requests")
    text = client.get("/metrics").text
    assert 'medsign_runner_items{kind="signing",status="scheduled"} 1.0' in text
    assert "medsign_http_requests_total" in text


def test_the_doctors_id_is_kept_changed_and_dropped(client: TestClient) -> None:
    """The МИС may name the appointment's doctor by its id («Мои пациенты» of the АРМ)."""
    seed(client)
    path = "/api/v1/organizations/mo1/appointments/a1"
    r = client.put(path, json=f.appointment(doctor={"name": "Петрова А. С.", "id": "d-7"}))
    assert r.status_code == 200 and r.json()["doctor"] == {"name": "Петрова А. С.", "id": "d-7"}
    assert client.get(path).json()["doctor"]["id"] == "d-7"
    r = client.put(path, json=f.appointment(doctor={"name": "Сидоров С. С."}))
    assert r.json()["doctor"] == {"name": "Сидоров С. С.", "id": None}
    r = client.put(path, json=f.appointment(doctor={"name": "Сидоров С. С.", "id": "врач 1"}))
    assert r.status_code == 422
