"""The doctor's own patients on any day (issue 15): «Мои пациенты» by the doctor's id in the
МИС, a date with previous and next day, pages; the appointment's history; «Отправить ещё
раз» and «На бумаге» after a refusal or an expiry."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from medsign.accounts import staff
from medsign.clock import FakeClock
from medsign.db.models import AppointmentRow, AuditRow, ConsentRow, SigningRequestRow
from medsign.domain.reconciliation import Ending
from medsign.errors import NotFound, Unprocessable
from medsign.records.scope import SYSTEM
from medsign.signing import flow
from medsign.signing import service as signing
from medsign.web.doctor import queries
from tests.integration.web import stand

PAGE = "/doctor/organizations/mo1/appointments/a1"


def _doctor_ids(engine: Engine, now: datetime, **by_appointment: str) -> None:
    with Session(engine) as db:
        for aid, doctor in by_appointment.items():
            db.execute(update(AppointmentRow).where(AppointmentRow.external_id == aid)
                       .values(doctor_external_id=doctor))
        staff.set_doctor_id(db, login="doc1", doctor_id="d-7", actor="test", now=now)
        db.commit()


def test_my_patients_are_the_appointments_with_my_doctor_id(
        client: TestClient, seeded: stand.Seeded, engine: Engine, clock: FakeClock) -> None:
    stand.logged_in(client, "doc1")
    page = client.get("/doctor").text  # no id on the account yet: the whole МО, and why
    assert 'data-testid="no-doctor-id"' in page and 'data-appointment="a1"' in page
    _doctor_ids(engine, clock.now(), a1="d-8")
    with Session(engine) as db:
        db.execute(update(AppointmentRow).where(AppointmentRow.external_id == "a1")
                   .values(starts_at=clock.now() + timedelta(hours=5)))
        db.commit()
    mine = client.get("/doctor").text
    assert "мои пациенты" in mine and 'data-appointment="a1"' not in mine
    assert "Записей нет" in mine
    everyone = client.get("/doctor", params={"who": "all"}).text
    assert 'data-appointment="a1"' in everyone and "мои пациенты" not in everyone
    _doctor_ids(engine, clock.now(), a1="d-7")
    assert 'data-appointment="a1"' in client.get("/doctor").text


def test_any_day_with_previous_and_next(client: TestClient, seeded: stand.Seeded) -> None:
    stand.logged_in(client, "doc1")
    page = client.get("/doctor").text
    next_day = stand.link(page, "next-day")
    assert next_day == "/doctor?date=2026-03-11"
    tomorrow = client.get(next_day).text
    assert "Завтра, 11 марта 2026" in tomorrow and 'data-appointment="a2"' in tomorrow
    assert 'data-appointment="a1"' not in tomorrow
    assert stand.link(tomorrow, "previous-day") == "/doctor?date=2026-03-10"
    assert stand.link(tomorrow, "today") == "/doctor"
    later = client.get("/doctor", params={"date": "2026-03-13"}).text
    assert "13 марта 2026" in later and 'data-appointment="a4"' in later  # three days on
    assert client.get("/doctor", params={"date": "13.03.2026"}).status_code == 422
    assert client.get("/doctor", params={"who": "someone"}).status_code == 422


def test_the_day_is_read_a_page_at_a_time(engine: Engine, seeded: stand.Seeded,
                                         clock: FakeClock) -> None:
    """Keyset pages over (start, id): nothing skipped or repeated, the search included; a
    foreign cursor reads as the first page."""
    now = clock.now()
    with Session(engine) as db:
        for n in range(5):
            stand.appointment(db, f"x{n}", "mo1", "p2", now + timedelta(hours=2), now)
        db.commit()
    scope = SYSTEM

    def read(**where: object) -> list[list[str]]:
        pages, after = [], None
        with Session(engine) as db:
            while True:
                board = queries.board(db, scope=scope, organization="mo1", now=now,
                                      where=queries.BoardFilter(after=after, **where),  # type: ignore[arg-type]
                                      page_size=2)
                pages.append([c.appointment_id for c in board.cards])
                if board.next_cursor is None:
                    return pages
                after = board.next_cursor

    assert read() == [["x0", "x1"], ["x2", "x3"], ["x4", "a1"]]
    assert read(query="смирнов") == [["x0", "x1"], ["x2", "x3"], ["x4"]]
    assert read(query="иванова") == [["a1"]]
    with Session(engine) as db:
        board = queries.board(db, scope=scope, organization="mo1", now=now, page_size=2,
                              where=queries.BoardFilter(after="not-a-cursor"))
    assert [c.appointment_id for c in board.cards] == ["x0", "x1"]


def test_the_next_page_link_keeps_the_day(client: TestClient, seeded: stand.Seeded,
                                          engine: Engine, clock: FakeClock) -> None:
    now = clock.now()
    with Session(engine) as db:
        for n in range(queries.PAGE_SIZE):
            stand.appointment(db, f"y{n:02}", "mo1", "p2", now + timedelta(hours=6), now)
        db.commit()
    stand.logged_in(client, "doc1")
    first = client.get("/doctor", params={"who": "all"}).text
    assert first.count('data-testid="appointment"') == queries.PAGE_SIZE
    following = client.get(stand.link(first, "next-page")).text
    assert following.count('data-testid="appointment"') == 1
    assert 'data-appointment="y49"' in following and "first-page" in following


def _end(engine: Engine, request_id: str, now: datetime, ending: Ending) -> None:
    """End the request as the poll step does on the platform's final status."""
    move, consents = flow.ending_change(ending, ending.value)
    with Session(engine) as db:
        row = db.get_one(SigningRequestRow, request_id)
        request = signing.to_domain(row, appointment_external_id="a1", organization_code="mo1")
        request.mark_sent("tx-1")  # the patient had it in Госключ
        move(request)
        signing.save(db, row, request, actor="system:signing", now=now)
        for c in db.scalars(select(ConsentRow).where(ConsentRow.appointment_id
                                                     == row.appointment_id,
                                                     ConsentRow.state == "in_signing")):
            c.state = consents.value
        db.commit()


def _post(client: TestClient, action: str) -> tuple[int, str, str]:
    form = client.get(f"{PAGE}/follow-up/{action}")
    assert form.status_code == 200, form.text
    r = client.post(f"{PAGE}/follow-up/{action}", data={"csrf_token": stand.csrf(form)})
    return r.status_code, r.headers.get("location", ""), r.text


def test_resend_after_a_refusal_starts_a_new_request_audited_as_the_doctor(
        client: TestClient, seeded: stand.Seeded, engine: Engine, clock: FakeClock) -> None:
    first = stand.start_signing(engine, "a1", clock.now())
    stand.logged_in(client, "doc1")
    assert 'data-testid="resend"' not in client.get(PAGE).text  # still open
    _end(engine, first, clock.now(), Ending.refused)
    page = client.get(PAGE).text
    assert 'data-testid="resend"' in page and 'data-testid="to-paper"' in page
    assert "пациент отказался" in page  # the history
    status, location, _ = _post(client, "resend")
    assert status == 303 and location == f"{PAGE}?msg=signing_started"
    with Session(engine) as db:
        rows = db.scalars(select(SigningRequestRow).order_by(SigningRequestRow.created_at)).all()
        audit = db.scalars(select(AuditRow).where(
            AuditRow.action == "appointment.resent_by_doctor")).one()
        states = {c.kind: c.state for c in db.scalars(select(ConsentRow).join(
            AppointmentRow, AppointmentRow.id == ConsentRow.appointment_id)
            .where(AppointmentRow.external_id == "a1"))}
    # (both made at the same moment of the fake clock: told apart by id, not by time)
    [new] = [r for r in rows if r.id != first]
    assert len(rows) == 2 and new.initiated_by == "doctor" and new.state == "new"
    assert sorted(new.consent_kinds) == ["medical_intervention", "personal_data"]
    assert audit.actor == "web:doc1" and audit.details["previous"] == first
    assert states["medical_intervention"] == "in_signing"
    status, _, text = _post_stale(client, "resend")  # a second press: a request is open now
    assert status == 409 and "подписание уже идёт" in text, text[text.find("<main"):][:1500]


def _post_stale(client: TestClient, action: str) -> tuple[int, str, str]:
    token = stand.token_of(client, PAGE)
    r = client.post(f"{PAGE}/follow-up/{action}", data={"csrf_token": token})
    return r.status_code, r.headers.get("location", ""), r.text


def test_paper_after_an_expiry_moves_the_waiting_documents(
        client: TestClient, seeded: stand.Seeded, engine: Engine, clock: FakeClock) -> None:
    first = stand.start_signing(engine, "a1", clock.now())
    _end(engine, first, clock.now(), Ending.expired)
    stand.logged_in(client, "doc1")
    status, location, _ = _post(client, "paper")
    assert status == 303 and location == f"{PAGE}?msg=paper_chosen"
    page = client.get(location).text
    assert "переведены на бумагу" in page and 'data-testid="resend"' not in page
    with Session(engine) as db:
        consents = {c.kind: (c.signing_method, c.state) for c in db.scalars(
            select(ConsentRow).join(AppointmentRow, AppointmentRow.id == ConsentRow.appointment_id)
            .where(AppointmentRow.external_id == "a1"))}
        audit = db.scalars(select(AuditRow).where(
            AuditRow.action == "appointment.paper_by_doctor")).one()
    assert consents["medical_intervention"] == ("paper", "pending")
    assert audit.actor == "web:doc1" and sorted(audit.details["consents"]) == [
        "medical_intervention", "personal_data"]
    status, _, text = _post_stale(client, "paper")  # nothing waits for a signature online now
    assert status == 409 and "нет документов" in text.lower()


def test_no_follow_up_after_other_ends(client: TestClient, seeded: stand.Seeded,
                                       engine: Engine, clock: FakeClock) -> None:
    stand.logged_in(client, "doc1")
    status, _, text = _post_stale(client, "resend")
    assert status == 409 and "ещё не отправлялись" in text
    request_id = stand.start_signing(engine, "a1", clock.now())
    stand.complete(engine, request_id, clock.now())
    with Session(engine) as db:
        before = db.scalars(select(SigningRequestRow)).all()
    for action in ("resend", "paper"):
        status, _, text = _post_stale(client, action)
        assert status == 409 and "не отказом пациента" in text
    with Session(engine) as db:
        assert len(db.scalars(select(SigningRequestRow)).all()) == len(before)
        assert db.scalars(select(AuditRow).where(
            AuditRow.action.like("appointment.%_by_doctor"))).first() is None


def test_another_organisations_appointment_is_not_found(
        client: TestClient, seeded: stand.Seeded) -> None:
    stand.logged_in(client, "doc1")
    token = stand.token_of(client, PAGE)
    r = client.post("/doctor/organizations/mo2/appointments/a3/follow-up/resend",
                    data={"csrf_token": token})
    assert r.status_code == 404 and "Кузнецова" not in r.text


def test_the_history_names_moves_people_and_times(
        client: TestClient, seeded: stand.Seeded, engine: Engine, clock: FakeClock) -> None:
    request_id = stand.start_signing(engine, "a1", clock.now())
    _end(engine, request_id, clock.now(), Ending.refused)
    stand.logged_in(client, "doc1")
    _post(client, "resend")
    page = client.get(PAGE).text
    history = page[page.index('data-testid="timeline"'):]
    lines = history.split('data-testid="timeline-event"')[1:]
    words = [line.split("</li>")[0] for line in lines]
    assert any("запись на приём создана" in w for w in words)
    assert any("подписание начато" in w and "МИС" not in w for w in words)
    assert any("пациент отказался" in w and "система (подписание)" in w for w in words)
    assert any("врач отправил документы на подписание ещё раз" in w
               and "Сотрудник doc1 (врач)" in w for w in words)
    assert "10.03.2026" in history  # Moscow time, as the rest of the page


def test_only_a_doctor_carries_a_doctor_id_and_each_change_is_audited(
        engine: Engine, seeded: stand.Seeded, clock: FakeClock) -> None:
    with Session(engine) as db:
        with pytest.raises(Unprocessable) as not_doctor:
            staff.set_doctor_id(db, login="op", doctor_id="d-1", actor="cli", now=clock.now())
        with pytest.raises(Unprocessable) as bad:
            staff.set_doctor_id(db, login="doc1", doctor_id="врач 1", actor="cli",
                                now=clock.now())
        with pytest.raises(NotFound):
            staff.set_doctor_id(db, login="nobody", doctor_id="d-1", actor="cli",
                                now=clock.now())
        staff.set_doctor_id(db, login="doc1", doctor_id=" d-7 ", actor="cli", now=clock.now())
        staff.set_doctor_id(db, login="doc1", doctor_id=None, actor="cli", now=clock.now())
        db.commit()
        audits = db.scalars(select(AuditRow).where(
            AuditRow.action == "staff_user.doctor_id_set").order_by(AuditRow.id)).all()
        row = staff.find(db, "doc1")
    assert not_doctor.value.code == "doctor_id_not_allowed"
    assert bad.value.code == "invalid_doctor_id"
    assert [a.details for a in audits] == [{"from": None, "to": "d-7"},
                                           {"from": "d-7", "to": None}]
    assert audits[0].organization_code == "mo1" and row is not None
    assert row.doctor_external_id is None
