"""The doctor's workstation: the board, starting signing behind a confirmation, downloads."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from medsign.clock import FakeClock
from medsign.db.models import AuditRow, SigningRequestRow
from tests.integration.web import stand

REFRESH = {"X-Requested-With": "medsign-refresh"}


def test_the_board_shows_states_in_russian_and_local_time(client: TestClient,
                                                          seeded: stand.Seeded) -> None:
    page = stand.logged_in(client, "doc1").get("/doctor").text
    assert "Сегодня, 10 марта 2026" in page and "Завтра" not in page
    assert 'data-appointment="a1"' in page and 'data-appointment="a2"' not in page
    assert ">14:00<" in page  # 11:00 UTC in Moscow
    assert "ИДС на медицинское вмешательство (электронно)" in page
    assert "Договор на оказание платных медицинских услуг (на бумаге)" in page
    assert "не отправлялось" in page and "не привязан" in page
    assert 'data-refresh-url="/doctor/board"' in page


def test_the_name_search_folds_case_and_yo(client: TestClient, seeded: stand.Seeded) -> None:
    stand.logged_in(client, "doc1")
    page = client.get("/doctor", params={"q": "ИВАНОВА мария"}).text
    assert 'data-appointment="a1"' in page and 'data-appointment="a2"' not in page
    fragment = client.get("/doctor/board", params={"q": "смирнов", "date": "2026-03-11"},
                          headers=REFRESH).text
    assert "<html" not in fragment and 'data-appointment="a2"' in fragment
    assert "Записей нет по запросу «нет такого»" in client.get(
        "/doctor", params={"q": "нет такого"}).text


def test_signing_starts_only_after_the_confirmation(client: TestClient, seeded: stand.Seeded,
                                                    engine: Engine) -> None:
    stand.logged_in(client, "doc1")
    confirm = client.get("/doctor/organizations/mo1/appointments/a1/sign")
    assert confirm.status_code == 200 and "Отправить документы на подписание?" in confirm.text
    assert "+79990000001" in confirm.text
    with Session(engine) as db:
        assert db.scalars(select(SigningRequestRow)).first() is None
    r = client.post("/doctor/organizations/mo1/appointments/a1/sign",
                    data={"csrf_token": stand.csrf(confirm)})
    assert r.status_code == 303
    assert r.headers["location"] == "/doctor/organizations/mo1/appointments/a1?msg=signing_started"
    page = client.get(r.headers["location"]).text
    assert "Документы отправлены на подписание" in page and 'role="status"' in page
    with Session(engine) as db:
        row = db.scalars(select(SigningRequestRow)).one()
        audit = db.scalars(select(AuditRow).where(AuditRow.action == "signing.new")).one()
    assert row.initiated_by == "doctor" and row.consent_kinds == ["medical_intervention",
                                                                   "personal_data"]
    assert audit.actor == "web:doc1" and audit.organization_code == "mo1"


def test_the_board_follows_the_request_without_reloading(
        client: TestClient, seeded: stand.Seeded, engine: Engine, clock: FakeClock) -> None:
    stand.logged_in(client, "doc1")
    request_id = stand.start_signing(engine, "a1", clock.now())
    fragment = client.get("/doctor/board", headers=REFRESH).text
    assert "готовится к отправке" in fragment and "подписание уже идёт" in fragment.lower()
    stand.complete(engine, request_id, clock.now())
    fragment = client.get("/doctor/board", headers=REFRESH).text
    assert 'data-state="completed"' in fragment and "Подписанные документы" in fragment


def test_a_second_start_is_refused_with_a_message(client: TestClient, seeded: stand.Seeded,
                                                  engine: Engine, clock: FakeClock) -> None:
    stand.logged_in(client, "doc1")
    token = stand.token_of(client, "/doctor/organizations/mo1/appointments/a1/sign")
    stand.start_signing(engine, "a1", clock.now())
    r = client.post("/doctor/organizations/mo1/appointments/a1/sign", data={"csrf_token": token})
    assert r.status_code == 409 and "уже идёт" in r.text and 'role="alert"' in r.text


def test_signed_documents_and_the_evidence_package(client: TestClient, seeded: stand.Seeded,
                                                   engine: Engine, clock: FakeClock) -> None:
    request_id = stand.start_signing(engine, "a1", clock.now())
    pdf = stand.complete(engine, request_id, clock.now())
    stand.logged_in(client, "doc1")
    page = client.get("/doctor/organizations/mo1/appointments/a1").text
    assert f"/doctor/requests/{request_id}/documents/1" in page and "ИДС (PDF)" in page
    r = client.get(f"/doctor/requests/{request_id}/documents/1")
    assert r.status_code == 200 and r.content == pdf
    assert r.headers["content-type"] == "application/pdf"
    assert "filename*=UTF-8''%D0%98%D0%94%D0%A1%20PDF.pdf" in r.headers["content-disposition"]
    assert client.get(f"/doctor/requests/{request_id}/documents/2").status_code == 404
    r = client.get(f"/doctor/requests/{request_id}/evidence")  # no trust store in this app
    assert r.status_code == 503 and "пакет доказательств недоступен" in r.text
    assert f"/doctor/requests/{request_id}/signature-sheet" in page
    r = client.get(f"/doctor/requests/{request_id}/signature-sheet")
    assert r.status_code == 503 and "лист подписания недоступен" in r.text


def test_documents_of_an_unfinished_request_are_not_offered(
        client: TestClient, seeded: stand.Seeded, engine: Engine, clock: FakeClock) -> None:
    request_id = stand.start_signing(engine, "a1", clock.now())
    stand.logged_in(client, "doc1")
    r = client.get(f"/doctor/requests/{request_id}/documents/1")
    assert r.status_code == 409 and "после завершения подписания" in r.text


def test_board_links_carry_the_organisation_and_old_links_still_open(
        client: TestClient, seeded: stand.Seeded) -> None:
    """An appointment id is unique only within its organisation: the pages' URLs carry both;
    a link from before leads to the doctor's own organisation's appointment, never another's."""
    stand.logged_in(client, "doc1")
    board = client.get("/doctor").text
    assert 'href="/doctor/organizations/mo1/appointments/a1"' in board
    assert 'href="/doctor/appointments/' not in board
    old = client.get("/doctor/appointments/a1", follow_redirects=False)
    assert old.status_code == 303
    assert old.headers["location"] == "/doctor/organizations/mo1/appointments/a1"
    gone = client.get("/doctor/appointments/a3", follow_redirects=True)  # mo2's id
    assert gone.status_code == 404 and "Кузнецова" not in gone.text
