"""The patient's optional СНИЛС in the REST API: checked, stored as 11 digits, shown back."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from medsign.app import create_app
from medsign.db.models import PatientRow
from tests import factories as f


@pytest.fixture
def client(engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(engine), raise_server_exceptions=False) as c:
        c.headers["Authorization"] = f"Bearer {f.token(engine)}"
        assert c.put("/api/v1/organizations/mo1", json=f.organization()).status_code == 201
        yield c


def stored(engine: Engine, pid: str = "p1") -> PatientRow:
    with Session(engine) as db:
        return db.scalars(select(PatientRow).where(PatientRow.external_id == pid)).one()


@pytest.mark.parametrize("spelling", ["112-233-445 95", "11223344595"])
def test_a_valid_snils_is_stored_as_eleven_digits_and_shown(client: TestClient, engine: Engine,
                                                            spelling: str) -> None:
    r = client.put("/api/v1/organizations/mo1/patients/p1", json=f.patient(snils=spelling))
    assert r.status_code == 201, r.text
    assert r.json()["snils"] == "11223344595"
    assert client.get("/api/v1/organizations/mo1/patients/p1").json()["snils"] == "11223344595"
    assert stored(engine).snils == "11223344595"


def test_snils_is_optional(client: TestClient) -> None:
    r = client.put("/api/v1/organizations/mo1/patients/p1", json=f.patient())
    assert r.status_code == 201 and r.json()["snils"] is None


@pytest.mark.parametrize(("bad", "words"), [
    ("112-233-445 96", "контрольного числа"),
    ("112 233 445 95", "записан неверно"),
    ("1122334459", "записан неверно"),
])
def test_a_bad_snils_is_a_clear_422_and_the_record_stays(client: TestClient, engine: Engine,
                                                         bad: str, words: str) -> None:
    assert client.put("/api/v1/organizations/mo1/patients/p1",
                      json=f.patient(snils="123-456-789 64")
                      ).status_code == 201
    r = client.put("/api/v1/organizations/mo1/patients/p1",
                   json=f.patient(snils=bad, last_name="Петров"))
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["code"] == "invalid_snils" and words in problem["detail"], problem
    row = stored(engine)
    assert (row.snils, row.last_name) == ("12345678964", "Иванов")


def test_a_put_without_snils_clears_it_as_it_states_the_whole_record(client: TestClient) -> None:
    client.put("/api/v1/organizations/mo1/patients/p1", json=f.patient(snils="112-233-445 95"))
    r = client.put("/api/v1/organizations/mo1/patients/p1", json=f.patient())
    assert r.status_code == 200 and r.json()["snils"] is None


def test_an_overlong_snils_is_refused_by_the_schema(client: TestClient) -> None:
    r = client.put("/api/v1/organizations/mo1/patients/p1", json=f.patient(snils="1" * 21))
    assert r.status_code == 422
