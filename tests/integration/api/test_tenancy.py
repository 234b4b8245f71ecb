"""Each organisation owns its identifiers (both back ends).

Two clinics' МИС that both number patients and appointments from 1 register them independently
under ``/api/v1/organizations/{code}/…``; each reads, updates and signs its own; neither learns
or blocks the other's ids (an id of another organisation is answered exactly like one that does
not exist), and the installation-wide paths of before are gone.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from alembic import command
from fastapi.testclient import TestClient
from httpx import Headers
from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from medsign.app import create_app
from medsign.db.engine import make_engine
from medsign.db.migrate import alembic_config, upgrade
from medsign.db.models import AppointmentRow, ConsentRow, PatientRow, SigningRequestRow
from tests import factories as f
from tests.identities import Identities

ORGS = ("mo1", "mo2")


@pytest.fixture
def client(engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(engine, identities=Identities()),
                    raise_server_exceptions=False) as c:
        c.headers["Authorization"] = f"Bearer {f.token(engine)}"
        yield c


def _base(org: str) -> str:
    return f"/api/v1/organizations/{org}"


def _seed_both(client: TestClient) -> None:
    """Both organisations register patient ``1`` and appointment ``1``, each with its own data."""
    for org, last_name in zip(ORGS, ("Иванов", "Петров"), strict=True):
        assert client.put(_base(org), json=f.organization()).status_code == 201
        r = client.put(f"{_base(org)}/patients/1", json=f.patient(org, last_name=last_name))
        assert r.status_code == 201, r.text
        r = client.put(f"{_base(org)}/appointments/1", json=f.appointment(org, "1"))
        assert r.status_code == 201, r.text


def _limited(client: TestClient, engine: Engine, org: str) -> Headers:
    headers = client.headers.copy()
    headers["Authorization"] = f"Bearer {f.token(engine, f'{org}-only', [org])}"
    return headers


def test_two_organisations_register_the_same_ids_independently(client: TestClient,
                                                               engine: Engine) -> None:
    _seed_both(client)
    for org, last_name in zip(ORGS, ("Иванов", "Петров"), strict=True):
        patient = client.get(f"{_base(org)}/patients/1").json()
        assert (patient["id"], patient["organization"], patient["last_name"]) == (
            "1", org, last_name)
        appt = client.get(f"{_base(org)}/appointments/1").json()
        assert (appt["id"], appt["organization"], appt["patient"]) == ("1", org, "1")
    with Session(engine) as db:
        rows = db.scalars(select(PatientRow).where(PatientRow.external_id == "1")).all()
        assert len(rows) == 2 and len({r.organization_id for r in rows}) == 2


def test_each_organisation_updates_and_signs_only_its_own(client: TestClient,
                                                          engine: Engine) -> None:
    _seed_both(client)
    r = client.put(f"{_base('mo1')}/patients/1", json=f.patient("mo1", last_name="Сидоров"))
    assert r.status_code == 200 and r.json()["last_name"] == "Сидоров"
    assert client.get(f"{_base('mo2')}/patients/1").json()["last_name"] == "Петров"
    r = client.put(f"{_base('mo2')}/appointments/1", json=f.appointment(
        "mo2", "1", service_name="Приём врача-кардиолога"))
    assert r.status_code == 200 and r.json()["service_name"] == "Приём врача-кардиолога"
    assert client.get(f"{_base('mo1')}/appointments/1").json()["service_name"] == \
        "Приём врача-терапевта"

    started = {org: client.post(f"{_base(org)}/appointments/1/signing-requests")
               for org in ORGS}
    for org, r in started.items():
        assert r.status_code == 201, r.text
        assert (r.json()["organization"], r.json()["appointment"]) == (org, "1")
        assert r.headers["location"] == f"/api/v1/signing-requests/{r.json()['id']}"
    assert started["mo1"].json()["id"] != started["mo2"].json()["id"]
    # One signing per appointment holds per organisation: mo2's start did not block mo1's.
    again = client.post(f"{_base('mo1')}/appointments/1/signing-requests")
    assert again.status_code == 409 and again.json()["code"] == "signing_request_active"
    with Session(engine) as db:
        by_org = {r.organization_id for r in db.scalars(select(SigningRequestRow))}
        consents = db.scalars(select(ConsentRow.state)).all()
    assert len(by_org) == 2 and consents.count("in_signing") == 4


def test_an_idempotency_key_replays_only_the_same_organisations_start(client: TestClient) -> None:
    _seed_both(client)
    key = {"Idempotency-Key": "start-1"}
    first = client.post(f"{_base('mo1')}/appointments/1/signing-requests", headers=key)
    assert first.status_code == 201
    other = client.post(f"{_base('mo2')}/appointments/1/signing-requests", headers=key)
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    replay = client.post(f"{_base('mo1')}/appointments/1/signing-requests", headers=key)
    assert replay.json()["id"] == first.json()["id"]
    assert replay.headers["idempotent-replayed"] == "true"


def _answer(r: Any) -> tuple[int, str, str]:
    """What a caller learns: status, code and the text (with the id asked for)."""
    body = r.json()
    return r.status_code, body.get("code", ""), body.get("detail", "")


@pytest.mark.parametrize("method,path", [
    ("GET", "/patients/{id}"), ("PUT", "/patients/{id}"),
    ("GET", "/appointments/{id}"), ("PUT", "/appointments/{id}"),
    ("POST", "/appointments/{id}/signing-requests"),
])
def test_another_organisations_ids_reveal_nothing(client: TestClient, engine: Engine,
                                                  method: str, path: str) -> None:
    """A token of mo1 asking for mo2's objects gets the same 404 whether the id exists there
    or not, and changes nothing."""
    _seed_both(client)
    mine = _limited(client, engine, "mo1")
    body = (f.patient("mo2", last_name="Захватов") if "/patients/" in path and method == "PUT"
            else f.appointment("mo2", "1") if method == "PUT" else None)

    def ask(pid: str) -> Any:
        return client.request(method, _base("mo2") + path.format(id=pid), json=body,
                              headers=mine)
    existing, missing = ask("1"), ask("no-such-id")
    assert existing.status_code == 404, existing.text
    assert _answer(existing) == _answer(missing)
    assert client.get(f"{_base('mo2')}/patients/1").json()["last_name"] == "Петров"
    with Session(engine) as db:
        assert db.scalars(select(SigningRequestRow)).first() is None


def test_a_scoped_token_works_on_its_own_organisation_with_the_same_ids(
        client: TestClient, engine: Engine) -> None:
    _seed_both(client)
    mine = _limited(client, engine, "mo2")
    assert client.get(f"{_base('mo2')}/patients/1", headers=mine).json()["last_name"] == "Петров"
    r = client.post(f"{_base('mo2')}/appointments/1/signing-requests", headers=mine)
    assert r.status_code == 201 and r.json()["organization"] == "mo2"
    listed = client.get("/api/v1/signing-requests", headers=mine).json()["items"]
    assert [(i["organization"], i["appointment"]) for i in listed] == [("mo2", "1")]


def test_a_body_that_names_another_organisation_is_refused(client: TestClient,
                                                           engine: Engine) -> None:
    _seed_both(client)
    r = client.put(f"{_base('mo1')}/patients/2", json=f.patient("mo2"))
    assert r.status_code == 422 and r.json()["code"] == "organization_mismatch"
    r = client.put(f"{_base('mo1')}/appointments/2", json=f.appointment("mo2", "1"))
    assert r.status_code == 422 and r.json()["code"] == "organization_mismatch"
    # Omitted, the path decides.
    assert client.put(f"{_base('mo1')}/patients/2", json=f.patient(None)).status_code == 201
    r = client.put(f"{_base('mo1')}/appointments/2", json=f.appointment(None, "2"))
    assert r.status_code == 201 and r.json()["organization"] == "mo1"
    # The patient of an appointment is looked up in the appointment's own organisation.
    client.put(f"{_base('mo2')}/patients/only-in-mo2", json=f.patient("mo2"))
    r = client.put(f"{_base('mo1')}/appointments/3", json=f.appointment("mo1", "only-in-mo2"))
    assert r.status_code == 404 and r.json()["code"] == "patient_not_found"
    with Session(engine) as db:
        assert db.scalars(select(AppointmentRow)
                          .where(AppointmentRow.external_id == "3")).first() is None


@pytest.mark.parametrize("method,path", [
    ("PUT", "/api/v1/patients/1"), ("GET", "/api/v1/patients/1"),
    ("POST", "/api/v1/patients/1/max-link"),
    ("PUT", "/api/v1/appointments/1"), ("GET", "/api/v1/appointments/1"),
    ("POST", "/api/v1/appointments/1/signing-requests"),
])
def test_the_old_installation_wide_paths_are_gone(client: TestClient, method: str,
                                                  path: str) -> None:
    _seed_both(client)
    r = client.request(method, path, json=f.patient() if method == "PUT" else None)
    assert r.status_code == 404
    paths = client.get("/api/openapi.json").json()["paths"]
    assert not [p for p in paths if p.startswith(("/api/v1/patients", "/api/v1/appointments"))]


# -- the schema -------------------------------------------------------------------------------

def test_the_database_refuses_a_duplicate_id_within_one_organisation(
        client: TestClient, engine: Engine) -> None:
    _seed_both(client)
    with Session(engine) as db:
        first = db.scalars(select(PatientRow).where(PatientRow.external_id == "1")).first()
        assert first is not None
        db.add(PatientRow(external_id="1", organization_id=first.organization_id,
                          last_name="Двойник", first_name="Иван", birth_date=first.birth_date,
                          max_reachable=True, created_at=first.created_at,
                          updated_at=first.updated_at))
        with pytest.raises(IntegrityError):
            db.flush()


def test_the_migration_keeps_every_row_and_reference(empty_url: str) -> None:
    """Rows written before 0006 (globally unique ids, referenced by consents and signing
    requests) survive the rebuild of their tables with every reference; afterwards another
    organisation may take the same ids. Downgrading to 0005 with unique ids works too."""
    engine = make_engine(empty_url)
    try:
        upgrade(engine)
        with TestClient(create_app(engine, identities=Identities()),
                        raise_server_exceptions=False) as c:
            c.headers["Authorization"] = f"Bearer {f.token(engine)}"
            assert c.put(_base("mo1"), json=f.organization()).status_code == 201
            assert c.put(f"{_base('mo1')}/patients/p1", json=f.patient()).status_code == 201
            assert c.put(f"{_base('mo1')}/appointments/a1",
                         json=f.appointment()).status_code == 201
            rid = c.post(f"{_base('mo1')}/appointments/a1/signing-requests").json()["id"]
        command.downgrade(alembic_config(engine), "0005")
        upgrade(engine)
        with TestClient(create_app(engine, identities=Identities()),
                        raise_server_exceptions=False) as c:
            c.headers["Authorization"] = f"Bearer {f.token(engine, 'after')}"
            got = c.get(f"/api/v1/signing-requests/{rid}").json()
            assert (got["organization"], got["appointment"], got["patient"]) == (
                "mo1", "a1", "p1")
            assert c.put(_base("mo2"), json=f.organization()).status_code == 201
            assert c.put(f"{_base('mo2')}/patients/p1",
                         json=f.patient("mo2")).status_code == 201
            assert c.put(f"{_base('mo2')}/appointments/a1",
                         json=f.appointment("mo2")).status_code == 201
        with Session(engine) as db:
            assert len(db.scalars(select(ConsentRow)).all()) == 6
    finally:
        engine.dispose()
