"""Rules of starting signing and changing appointments, as the МИС sees them (both back ends):
the Idempotency-Key replay (now in the service), and appointment changes that go through the
domain (an illegal one is refused and leaves the stored record as it was)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from medsign.app import create_app
from medsign.db.models import AppointmentRow, SigningRequestRow
from tests import factories as f
from tests.identities import Identities


@pytest.fixture
def client(engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(engine, identities=Identities()),
                    raise_server_exceptions=False) as c:
        c.headers["Authorization"] = f"Bearer {f.token(engine)}"
        assert c.put("/api/v1/organizations/mo1", json=f.organization()).status_code == 201
        assert c.put("/api/v1/organizations/mo1/patients/p1", json=f.patient()).status_code == 201
        assert c.put("/api/v1/organizations/mo1/appointments/a1",
                     json=f.appointment()).status_code == 201
        yield c


def _start(client: TestClient, key: str, body: Any = None) -> Any:
    return client.post("/api/v1/organizations/mo1/appointments/a1/signing-requests", json=body,
                       headers={"Idempotency-Key": key})


def _requests(engine: Engine) -> int:
    with Session(engine) as db:
        return db.scalar(select(func.count()).select_from(SigningRequestRow)) or 0


def test_a_repeat_with_the_same_key_replays_the_first_answer(client: TestClient,
                                                             engine: Engine) -> None:
    first = _start(client, "k-1", {"consents": ["medical_intervention"]})
    again = _start(client, "k-1", {"consents": ["medical_intervention"]})
    assert (first.status_code, again.status_code) == (201, 201)
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert again.headers["Location"] == first.headers["Location"] == \
        f"/api/v1/signing-requests/{first.json()['id']}"
    assert _requests(engine) == 1


def test_the_same_key_with_another_request_is_refused(client: TestClient,
                                                      engine: Engine) -> None:
    assert _start(client, "k-2", {"consents": ["medical_intervention"]}).status_code == 201
    r = _start(client, "k-2", {"consents": ["personal_data"]})
    assert (r.status_code, r.json()["code"]) == (422, "idempotency_key_reused")
    assert _requests(engine) == 1


def test_a_second_start_without_a_key_names_the_open_request(client: TestClient) -> None:
    first = client.post("/api/v1/organizations/mo1/appointments/a1/signing-requests")
    again = client.post("/api/v1/organizations/mo1/appointments/a1/signing-requests")
    assert again.status_code == 409 and again.json()["code"] == "signing_request_active"
    assert again.json()["signing_request"] == first.json()["id"]


def test_twins_with_one_key_at_the_same_moment_start_once(client: TestClient,
                                                          engine: Engine) -> None:
    """The replay is looked up again under the appointment's lock: the twin that waited
    replays the winner's answer instead of getting a conflict."""
    barrier = threading.Barrier(2)

    def twin() -> Any:
        barrier.wait(timeout=30)
        return _start(client, "k-twin")
    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = [a.result(timeout=60) for a in [pool.submit(twin), pool.submit(twin)]]
    assert [a.status_code for a in answers] == [201, 201], [a.text for a in answers]
    assert sorted(a.headers.get("Idempotent-Replayed", "") for a in answers) == ["", "true"]
    assert answers[0].json()["id"] == answers[1].json()["id"]
    assert _requests(engine) == 1


def test_a_reschedule_counts_once_per_move(client: TestClient, engine: Engine) -> None:
    body = f.appointment()
    for hours in (30, 30, 40):
        moved = f.appointment(in_hours=hours)
        moved["starts_at"] = moved["starts_at"][:13] + ":00:00+00:00"
        body["starts_at"] = moved["starts_at"]
        assert client.put("/api/v1/organizations/mo1/appointments/a1", json=body).status_code == 200
    with Session(engine) as db:
        row = db.scalars(select(AppointmentRow)).one()
    assert row.reschedule_count == 2


def test_a_cancelled_appointment_cannot_be_moved(client: TestClient, engine: Engine) -> None:
    body = f.appointment(status="cancelled")
    assert client.put("/api/v1/organizations/mo1/appointments/a1", json=body).status_code == 200
    with Session(engine) as db:
        before = db.scalars(select(AppointmentRow)).one()
        stored = (before.starts_at, before.reschedule_count, before.updated_at)
    body["starts_at"] = f.appointment(in_hours=50)["starts_at"]
    r = client.put("/api/v1/organizations/mo1/appointments/a1", json=body)
    assert (r.status_code, r.json()["code"]) == (409, "appointment_cancelled")
    with Session(engine) as db:
        after = db.scalars(select(AppointmentRow)).one()
    assert (after.starts_at, after.reschedule_count, after.updated_at) == stored
    consents = client.get("/api/v1/organizations/mo1/appointments/a1").json()["consents"]
    assert {c["state"] for c in consents} == {"cancelled"}
