"""The operators' console: requests by state, stuck and failed ones, retry and cancel, the
queue, external systems' health, audit search, support requests and staff users."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, select, update
from sqlalchemy.orm import Session

from medsign import health as web_health
from medsign.clinic import patients
from medsign.clinic.patients import PatientInput
from medsign.clock import FakeClock
from medsign.db.models import (
    AuditRow,
    OrganizationRow,
    PatientRow,
    ReconciliationFindingRow,
    SigningRequestRow,
    StaffUserRow,
    WorkItemRow,
)
from medsign.domain.signing import CancelledBy
from medsign.health import HealthRecorder
from medsign.records import audit
from medsign.records.scope import SYSTEM
from medsign.signing import alerts
from medsign.signing import service as signing
from medsign.web.console import routes as console_routes
from tests.integration.web import stand


def test_requests_are_listed_and_filtered(client: TestClient, seeded: stand.Seeded,
                                          engine: Engine, clock: FakeClock) -> None:
    one = stand.start_signing(engine, "a1", clock.now())
    two = stand.start_signing(engine, "a3", clock.now())
    stand.complete(engine, two, clock.now())
    stand.logged_in(client, "op")
    page = client.get("/console/requests").text
    assert one in page and two in page
    page = client.get("/console/requests", params={"state": "completed"}).text
    assert two in page and one not in page
    page = client.get("/console/requests", params={"organization": "mo1"}).text
    assert one in page and two not in page
    page = client.get("/console/requests", params={"day": "2026-03-10"}).text
    assert one in page and two in page
    assert "Транзакций не найдено" in client.get("/console/requests",
                                                 params={"day": "2026-03-12"}).text


def test_requests_are_paginated(client: TestClient, seeded: stand.Seeded, engine: Engine,
                                clock: FakeClock) -> None:
    ids = []
    for _ in range(27):  # cancel each so that the appointment can be sent again
        ids.append(stand.start_signing(engine, "a1", clock.now()))
        with Session(engine) as db:
            signing.cancel(db, scope=SYSTEM, request_id=ids[-1], reason="тест",
                           by=CancelledBy.operator, now=clock.now())
            db.commit()
        clock.advance(timedelta(seconds=1))
    stand.logged_in(client, "op")
    first = client.get("/console/requests")
    assert first.text.count('data-testid="request-row"') == 25
    next_url = stand.link(first.text, "next-page")
    second = client.get(next_url)
    assert second.text.count('data-testid="request-row"') == 2
    assert ids[0] in second.text and ids[-1] in first.text


def test_a_failed_request_shows_its_error_and_can_be_retried(
        client: TestClient, seeded: stand.Seeded, engine: Engine, clock: FakeClock) -> None:
    request_id = stand.start_signing(engine, "a1", clock.now())
    stand.fail(engine, request_id, clock.now())
    stand.logged_in(client, "op")
    listing = client.get("/console/requests", params={"view": "failed"}).text
    assert request_id in listing and "goskey: 500" in listing
    page = client.get(f"/console/requests/{request_id}")
    assert "goskey: 500" in page.text and 'data-testid="retry"' in page.text
    # names for staff, not the МИС's codes
    assert "Иванова Мария Петровна (идентификатор в МИС p1)" in page.text
    assert "medical_intervention" not in page.text
    refused = client.post(f"/console/requests/{request_id}/retry",
                          data={"csrf_token": stand.csrf(page), "reason": "   "})
    assert refused.status_code == 422
    with Session(engine) as db:
        assert db.get(SigningRequestRow, request_id).state == "failed"  # type: ignore[union-attr]
    r = client.post(f"/console/requests/{request_id}/retry",
                    data={"csrf_token": stand.csrf(page), "reason": "платформа снова доступна"})
    assert r.status_code == 303 and r.headers["location"].endswith("?msg=retried")
    with Session(engine) as db:
        assert db.get(SigningRequestRow, request_id).state == "new"  # type: ignore[union-attr]
        [audited] = db.scalars(select(AuditRow).where(AuditRow.subject_id == request_id,
                                                      AuditRow.action == "signing.retried"))
    # the operator's retry is the operator's, under its own action — not «signing.new»
    assert (audited.actor, audited.details["reason"]) == ("web:op", "платформа снова доступна")
    assert audited.details["to"] == "new"
    history = client.get(f"/console/requests/{request_id}").text
    assert "повтор" in history and "Сотрудник op (оператор)" in history
    assert "web:op" not in history
    audit_page = client.get("/console/audit", params={"action": "signing.retried"}).text
    assert audit_page.count('data-testid="audit-row"') == 1
    assert "Сотрудник op (оператор)" in audit_page and "повтор" in audit_page
    assert "Причина: платформа снова доступна" in audit_page


def test_retrying_a_request_that_has_not_failed_is_explained(
        client: TestClient, seeded: stand.Seeded, engine: Engine, clock: FakeClock) -> None:
    request_id = stand.start_signing(engine, "a1", clock.now())
    stand.logged_in(client, "op")
    token = stand.token_of(client, f"/console/requests/{request_id}")
    r = client.post(f"/console/requests/{request_id}/retry",
                    data={"csrf_token": token, "reason": "проверка"})
    assert r.status_code == 409 and "только транзакцию в состоянии «ошибка»" in r.text


def test_cancel_needs_a_reason_and_is_audited(client: TestClient, seeded: stand.Seeded,
                                              engine: Engine, clock: FakeClock) -> None:
    request_id = stand.start_signing(engine, "a1", clock.now())
    stand.logged_in(client, "op")
    token = stand.token_of(client, f"/console/requests/{request_id}")
    r = client.post(f"/console/requests/{request_id}/cancel", data={"csrf_token": token})
    assert r.status_code == 422
    r = client.post(f"/console/requests/{request_id}/cancel",
                    data={"csrf_token": token, "reason": "пациент попросил"})
    assert r.status_code == 303
    with Session(engine) as db:
        row = db.get(SigningRequestRow, request_id)
        entry = db.scalars(select(AuditRow).where(
            AuditRow.action == "signing.cancelled_by_operator")).one()
    assert row is not None and row.state == "cancelled"
    assert entry.actor == "web:op" and entry.details["reason"] == "пациент попросил"
    page = client.get(f"/console/requests/{request_id}").text
    assert "отменено оператором" in page and "Сотрудник op (оператор)" in page
    # the cancel's reason is the request's reason, not an error of its runner item
    assert 'data-testid="last-error"' not in page
    assert "Последняя ошибка" not in page and "Причина ошибки" not in page
    assert "Причина отмены" in page
    listing = client.get("/console/requests").text
    row_html = listing[listing.index(f'data-request="{request_id}"'):]
    assert "пациент попросил" not in row_html.split("</tr>")[0]


def test_a_request_nobody_works_on_is_stuck(client: TestClient, seeded: stand.Seeded,
                                            engine: Engine, clock: FakeClock) -> None:
    request_id = stand.start_signing(engine, "a1", clock.now())
    stand.logged_in(client, "op")
    assert request_id not in client.get("/console/requests", params={"view": "stuck"}).text
    clock.advance(timedelta(minutes=20))
    assert request_id not in client.get("/console/requests", params={"view": "stuck"}).text
    clock.advance(timedelta(minutes=11))
    page = client.get("/console/requests", params={"view": "stuck"}).text
    assert request_id in page
    overview = client.get("/console").text
    assert 'data-testid="count-stuck">1<' in overview and request_id in overview


def test_a_request_with_no_scheduled_work_is_stalled_once_the_scan_finds_it(
        client: TestClient, seeded: stand.Seeded, engine: Engine, clock: FakeClock) -> None:
    request_id = stand.start_signing(engine, "a1", clock.now())
    with engine.begin() as conn:  # its item ended, the request did not: nothing moves it
        conn.execute(update(WorkItemRow).where(WorkItemRow.ref == request_id)
                     .values(status="done", next_run_at=None))
    stand.logged_in(client, "op")
    assert 'data-testid="alert-badge"' not in client.get("/console/requests").text
    with Session(engine) as db:  # the alert scan, as its runner item runs it every minute
        assert alerts.watch(db, now=clock.now()) == 1
        db.commit()
    page = client.get("/console/requests", params={"view": "stuck"}).text
    assert "Внимание: 1" in page and f'data-request="{request_id}"' in page
    assert 'medsign_signing_alerts{kind="stalled"} 1.0' in client.get("/metrics").text
    with engine.begin() as conn:  # moved again: it leaves the lists at once, before a scan
        conn.execute(update(WorkItemRow).where(WorkItemRow.ref == request_id)
                     .values(status="scheduled", next_run_at=clock.now(),
                             updated_at=clock.now()))
    page = client.get("/console/requests", params={"view": "stuck"}).text
    assert 'data-testid="alert-badge"' not in page and f'data-request="{request_id}"' not in page


def test_the_overview_shows_the_queue_and_each_systems_health(
        client: TestClient, seeded: stand.Seeded, engine: Engine, clock: FakeClock) -> None:
    stand.start_signing(engine, "a1", clock.now())
    recorder = HealthRecorder(engine, clock)
    for outcome in ("ok", "ok", "ok", "transient"):
        recorder.observe("goskey", "send", outcome)
    recorder.observe("max", "send_message", "ok")
    recorder.flush()
    stand.logged_in(client, "op")
    fragment = client.get("/console/overview",
                          headers={"X-Requested-With": "medsign-refresh"}).text
    assert "<html" not in fragment
    assert 'data-testid="queue"' in fragment and "signing" in fragment
    goskey = fragment.split('data-testid="health-goskey"')[1].split("</tr>")[0]
    assert "25.0 %" in goskey and "send: transient" in goskey and "10.03.2026 10:00" in goskey
    esia = fragment.split('data-testid="health-esia"')[1].split("</tr>")[0]
    assert "нет вызовов за час" in esia


def test_the_overviews_queue_says_more_past_its_most(
        client: TestClient, seeded: stand.Seeded, engine: Engine, clock: FakeClock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(console_routes, "QUEUE_MOST", 1)
    for aid in ("a1", "a3"):
        stand.start_signing(engine, aid, clock.now())
    stand.logged_in(client, "op")
    page = client.get("/console").text
    queue = page.split('data-testid="queue"')[1].split("</table>")[0]
    signing_row = next(r for r in queue.split("<tr>") if ">signing<" in r)
    assert "более 1<" in signing_row
    states = page.split('data-testid="state-counts"')[1].split("</ul>")[0]
    assert "более 1</li>" in states  # the two new requests


def test_health_counts_of_several_processes_add_up(engine: Engine, clock: FakeClock,
                                                   seeded: stand.Seeded) -> None:
    for _ in range(2):
        recorder = HealthRecorder(engine, clock)
        recorder.observe("max", "send_message", "ok")
        recorder.observe("max", "send_message", "rejected")
        recorder.flush()
    with Session(engine) as db:
        health = {h.system: h for h in web_health.summary(db, now=clock.now())}
    assert health["max"].calls_last_hour == 4 and health["max"].rejected_last_hour == 2
    assert health["max"].failures_last_hour == 0 and health["max"].status == "ok"
    clock.advance(timedelta(hours=2))
    with Session(engine) as db:
        later = {h.system: h for h in web_health.summary(db, now=clock.now())}
    assert later["max"].calls_last_hour == 0 and later["max"].last_ok_at is not None


def test_closing_the_health_counter_waits_for_a_flush_under_way(
        engine: Engine, clock: FakeClock, seeded: stand.Seeded) -> None:
    """Its owner disposes of the engine next: a flush still running in the background would
    hand its connection back to a pool nobody closes any more."""
    inside, go_on = threading.Event(), threading.Event()

    def held(*_: object) -> None:
        if threading.current_thread().name == "medsign-health":
            inside.set()
            go_on.wait(1)
    recorder = HealthRecorder(engine, clock, flush_every=timedelta(milliseconds=10))
    event.listen(engine, "before_cursor_execute", held)
    try:
        recorder.observe("max", "send_message", "ok")  # starts the flush thread
        assert inside.wait(5)
        threading.Timer(0.2, go_on.set).start()
        recorder.close()
        assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    finally:
        go_on.set()
        event.remove(engine, "before_cursor_execute", held)
    with Session(engine) as db:
        health = {h.system: h for h in web_health.summary(db, now=clock.now())}
    assert health["max"].calls_last_hour == 1


def test_the_audit_log_can_be_searched(client: TestClient, seeded: stand.Seeded,
                                       engine: Engine, clock: FakeClock) -> None:
    with Session(engine) as db:
        for i in range(30):
            audit.record(db, at=clock.now(), actor="mis:test", action="patient.updated",
                         subject_type="patient", subject_id=f"x{i}", organization_code="mo1")
        db.commit()
    stand.logged_in(client, "op")
    page = client.get("/console/audit", params={"actor": "web:", "action": "web.login"}).text
    assert page.count('data-testid="audit-row"') == 1 and "web:op" in page
    page = client.get("/console/audit", params={"subject": "patient:x7"}).text
    assert page.count('data-testid="audit-row"') == 1
    first = client.get("/console/audit", params={"actor": "mis:"})
    assert first.text.count('data-testid="audit-row"') == 25
    second = client.get(stand.link(first.text, "next-page"))
    assert second.text.count('data-testid="audit-row"') == 5
    assert "Записей не найдено" in client.get("/console/audit",
                                              params={"day": "2026-03-11"}).text


def test_notifications_are_listed(client: TestClient, seeded: stand.Seeded) -> None:
    stand.logged_in(client, "op")
    page = client.get("/console/notifications")
    assert page.status_code == 200 and "Уведомления пациентам" in page.text


def test_an_admin_creates_users_and_the_policy_applies(client: TestClient,
                                                       seeded: stand.Seeded,
                                                       engine: Engine) -> None:
    stand.logged_in(client, "adm")
    token = stand.token_of(client, "/console/users")
    form = {"csrf_token": token, "login": "doc3", "full_name": "Новый Врач", "role": "doctor",
            "organization": "mo2", "password": "1234567890", "password_again": "1234567890"}
    r = client.post("/console/users", data=form)
    assert r.status_code == 422 and "самых распространённых" in r.text
    r = client.post("/console/users", data={**form, "password": "Ещё-Один-Пароль-7",
                                            "password_again": "Ещё-Один-Пароль-7"})
    assert r.status_code == 303
    with Session(engine) as db:
        assert db.scalars(select(StaffUserRow).where(StaffUserRow.login == "doc3")).one()
        entry = db.scalars(select(AuditRow).where(AuditRow.action == "staff_user.created",
                                                  AuditRow.subject_id == "doc3")).one()
    assert entry.actor == "web:adm"
    client.cookies.clear()
    assert stand.login(client, "doc3", "Ещё-Один-Пароль-7").status_code == 303
    assert 'data-appointment="a3"' in client.get("/doctor").text


def test_an_admin_sets_a_new_password_and_old_sessions_end(
        new_client: Callable[[], TestClient], seeded: stand.Seeded) -> None:
    doctor = stand.logged_in(new_client(), "doc1")
    admin = stand.logged_in(new_client(), "adm")
    token = stand.token_of(admin, "/console/users")
    r = admin.post("/console/users/password", data={
        "csrf_token": token, "login": "doc1", "password": "Brand-New-Secret-9",
        "password_again": "Brand-New-Secret-9"})
    assert r.status_code == 303
    assert doctor.get("/doctor").status_code == 303
    doctor.cookies.clear()
    assert stand.login(doctor, "doc1", "Brand-New-Secret-9").status_code == 303


def test_the_overview_lists_what_a_reconciliation_left_to_an_operator(
        client: TestClient, seeded: stand.Seeded, engine: Engine, clock: FakeClock) -> None:
    open_one = stand.start_signing(engine, "a1", clock.now())
    ended = stand.start_signing(engine, "a3", clock.now())
    stand.complete(engine, ended, clock.now())
    with Session(engine) as db:
        name = db.scalars(select(OrganizationRow.name)
                          .where(OrganizationRow.code == "mo1")).one()

        def finding(request: str | None, tx: str, **over: object) -> ReconciliationFindingRow:
            values: dict[str, object] = dict(
                run_id="run-1", found_at=clock.now(), signing_request_id=request,
                transaction_id=tx, organization_code="mo1", local_state="sent",
                platform_status="finished", outcome="operator",
                detail=f"Причина для {tx}: решите.")
            return ReconciliationFindingRow(**{**values, **over})
        db.add_all([finding(open_one, "tx-open"), finding("lost-request", "tx-lost"),
                    finding(ended, "tx-ended"),
                    finding(open_one, "tx-resolved", resolved_at=clock.now()),
                    finding(open_one, "tx-resumed", outcome="resumed")])
        db.commit()
    stand.logged_in(client, "op")
    for path in ("/console", "/console/overview"):
        page = client.get(path).text
        assert "Сверка после восстановления" in page
        assert f'href="/console/requests/{open_one}"' in page and "Причина для tx-open" in page
        assert "lost-request (нет в базе)" in page and "tx-lost" in page
        assert name in page
        assert not any(tx in page for tx in ("tx-ended", "tx-resolved", "tx-resumed"))


def test_the_overview_has_no_reconciliation_section_without_findings(
        client: TestClient, seeded: stand.Seeded) -> None:
    stand.logged_in(client, "op")
    assert "Сверка после восстановления" not in client.get("/console").text


def test_requests_are_found_by_name_phone_snils_and_ids(
        client: TestClient, seeded: stand.Seeded, engine: Engine, clock: FakeClock) -> None:
    ivanova = stand.start_signing(engine, "a1", clock.now())
    kuznetsova = stand.start_signing(engine, "a3", clock.now())
    smirnov = stand.start_signing(engine, "a2", clock.now())
    with Session(engine) as db:
        db.get(SigningRequestRow, smirnov).transaction_id = "tx-777"  # type: ignore[union-attr]
        db.scalars(select(PatientRow).where(PatientRow.external_id == "p3")).one().snils = (
            "11223344595")
        db.commit()
    stand.logged_in(client, "op")

    def found(q: str, **more: str) -> set[str]:
        page = client.get("/console/requests", params={"q": q, **more})
        assert page.status_code == 200
        return {i for i in (ivanova, kuznetsova, smirnov) if f'data-request="{i}"' in page.text}

    assert found("иванова") == {ivanova}
    assert found("ПЕТРОВНА мар") == {ivanova}  # any part, any case, any order
    assert found("ова") == {ivanova, kuznetsova}
    assert found("ова", organization="mo2") == {kuznetsova}  # with the other filters
    assert found("+7 (999) 000-00-02") == {smirnov}
    assert found("8 999 000 00 01") == {ivanova}
    assert found("112-233-445 95") == {kuznetsova}
    assert found("a3") == {kuznetsova}  # the МИС's appointment id
    assert found("tx-777") == {smirnov}  # the platform's transaction id
    assert found(ivanova) == {ivanova}
    assert found("tx-77") == set()  # ids are exact
    assert found("   ") == {ivanova, kuznetsova, smirnov}


def test_a_patient_renamed_by_the_mis_is_found_by_the_new_name(
        client: TestClient, seeded: stand.Seeded, engine: Engine, clock: FakeClock) -> None:
    request_id = stand.start_signing(engine, "a1", clock.now())
    with Session(engine) as db:
        patients.upsert(db, scope=SYSTEM, organization="mo1", external_id="p1",
                        now=clock.now(), data=PatientInput(
            organization="mo1", last_name="Ёлкина", first_name="Мария",
            middle_name="Петровна", birth_date=date(1985, 3, 14), phone="+79990000001",
            max_user_id=None))
        db.commit()
    stand.logged_in(client, "op")
    assert request_id in client.get("/console/requests", params={"q": "елкина"}).text
    assert request_id not in client.get("/console/requests", params={"q": "иванова"}).text


def test_the_list_names_patients_organisations_and_documents(
        client: TestClient, seeded: stand.Seeded, engine: Engine, clock: FakeClock) -> None:
    stand.start_signing(engine, "a3", clock.now())
    stand.logged_in(client, "op")
    page = client.get("/console/requests").text
    assert "Кузнецова Ольга" in page and "Поликлиника mo2" in page
    assert "medical_intervention" not in page
    # the list alone, for the live update, keeps the search
    fragment = client.get("/console/requests/list", params={"q": "кузнец"})
    assert fragment.status_code == 200 and "Кузнецова Ольга" in fragment.text
    assert "<html" not in fragment.text
    assert "/console/requests/list?q=" in page


def test_a_search_text_too_long_is_explained_next_to_the_box(
        client: TestClient, seeded: stand.Seeded) -> None:
    stand.logged_in(client, "op")
    page = client.get("/console/requests", params={"q": "я" * 101})
    assert page.status_code == 422
    assert 'data-testid="search-error"' in page.text and 'aria-invalid="true"' in page.text


def test_a_blank_reason_is_refused_in_the_form_and_the_typed_text_stays(
        client: TestClient, seeded: stand.Seeded, engine: Engine, clock: FakeClock) -> None:
    request_id = stand.start_signing(engine, "a1", clock.now())
    stand.fail(engine, request_id, clock.now())
    stand.logged_in(client, "op")
    token = stand.token_of(client, f"/console/requests/{request_id}")
    for which in ("retry", "cancel"):
        for typed, words in (("   \t ", "не заполнено"), ("", "не заполнено"),
                             (" ок ", "слишком короткая"), ("я" * 1001, "длиннее 1000")):
            r = client.post(f"/console/requests/{request_id}/{which}",
                            data={"csrf_token": token, "reason": typed})
            assert r.status_code == 422, (which, typed)
            # the request's own page, the error beside the field, what was typed kept
            assert f'data-testid="{which}-error"' in r.text and words in r.text
            field = r.text[r.text.index(f'id="{which}-reason"'):]
            field = field[:field.index("</textarea>")]
            assert 'aria-invalid="true"' in field and "autofocus" in field
            assert field.endswith(typed.replace("'", "&#39;"))
            assert 'data-testid="request-live"' in r.text
    with Session(engine) as db:
        assert db.get(SigningRequestRow, request_id).state == "failed"  # type: ignore[union-attr]
        assert not db.scalars(select(AuditRow).where(
            AuditRow.subject_id == request_id,
            AuditRow.action.in_(["signing.retried", "signing.cancelled_by_operator"]))).all()
    r = client.post(f"/console/requests/{request_id}/cancel",
                    data={"csrf_token": token, "reason": "  пациент попросил  "})
    assert r.status_code == 303
    with Session(engine) as db:
        row = db.get(SigningRequestRow, request_id)
        assert row is not None and row.state == "cancelled"
        assert row.reason == "пациент попросил"  # trimmed


def test_a_refused_action_on_a_request_that_moved_on_is_shown_on_its_page(
        client: TestClient, seeded: stand.Seeded, engine: Engine, clock: FakeClock) -> None:
    request_id = stand.start_signing(engine, "a1", clock.now())
    stand.fail(engine, request_id, clock.now())
    stand.logged_in(client, "op")
    token = stand.token_of(client, f"/console/requests/{request_id}")
    with Session(engine) as db:
        signing.cancel(db, scope=SYSTEM, request_id=request_id, reason="тест",
                       by=CancelledBy.operator, now=clock.now())
        db.commit()
    r = client.post(f"/console/requests/{request_id}/retry",
                    data={"csrf_token": token, "reason": "платформа снова доступна"})
    assert r.status_code == 409 and 'data-testid="message-error"' in r.text
    assert "только транзакцию в состоянии «ошибка»" in r.text


def test_the_request_page_updates_itself(client: TestClient, seeded: stand.Seeded,
                                         engine: Engine, clock: FakeClock) -> None:
    request_id = stand.start_signing(engine, "a1", clock.now())
    stand.logged_in(client, "op")
    page = client.get(f"/console/requests/{request_id}").text
    assert f'data-refresh-url="/console/requests/{request_id}/live"' in page
    stand.fail(engine, request_id, clock.now())
    live = client.get(f"/console/requests/{request_id}/live")
    assert live.status_code == 200 and "<html" not in live.text
    assert 'data-testid="request-state"' in live.text and "ошибка" in live.text
    assert 'data-testid="retry-form"' not in live.text  # the forms are not replaced


def test_an_admin_disables_a_user_whose_sessions_end_at_once_and_re_enables_them(
        new_client: Callable[[], TestClient], seeded: stand.Seeded, engine: Engine) -> None:
    doctor = stand.logged_in(new_client(), "doc1")
    admin = stand.logged_in(new_client(), "adm")
    users = admin.get("/console/users").text
    assert 'data-login="doc1" data-active="yes"' in users and "не входил" in users
    r = admin.post("/console/users/doc1/disable",
                   data={"csrf_token": stand.token_of(admin, "/console/users")})
    assert r.status_code == 303 and r.headers["location"].endswith("msg=user_disabled")
    assert doctor.get("/doctor").status_code == 303  # the session is gone
    doctor.cookies.clear()
    assert stand.login(doctor, "doc1", stand.PASSWORD).status_code != 303
    assert 'data-login="doc1" data-active="no"' in admin.get("/console/users").text
    r = admin.post("/console/users/doc1/enable",
                   data={"csrf_token": stand.token_of(admin, "/console/users")})
    assert r.status_code == 303
    assert stand.login(doctor, "doc1", stand.PASSWORD).status_code == 303
    with Session(engine) as db:
        actions = [a for a, in db.execute(select(AuditRow.action).where(
            AuditRow.subject_id == "doc1", AuditRow.actor == "web:adm")
            .order_by(AuditRow.id))]
        row = db.scalars(select(StaffUserRow).where(StaffUserRow.login == "doc1")).one()
    assert actions == ["staff_user.disabled", "staff_user.enabled"]
    assert row.last_login_at is not None and row.disabled_at is None
    assert "не входил" not in admin.get("/console/users").text.split('data-login="doc1"')[1] \
        .split("</tr>")[0]


def test_an_admin_changes_a_role_and_the_organisation(
        new_client: Callable[[], TestClient], seeded: stand.Seeded, engine: Engine) -> None:
    doctor = stand.logged_in(new_client(), "doc1")
    admin = stand.logged_in(new_client(), "adm")
    token = stand.token_of(admin, "/console/users")
    r = admin.post("/console/users/role", data={"csrf_token": token, "login": "doc1",
                                                "role": "doctor", "organization": ""})
    assert r.status_code == 422 and "Для врача укажите" in r.text
    r = admin.post("/console/users/role", data={"csrf_token": token, "login": "doc1",
                                                "role": "doctor", "organization": "mo2"})
    assert r.status_code == 303
    assert 'data-appointment="a3"' in doctor.get("/doctor").text  # the other МО's board
    r = admin.post("/console/users/role", data={"csrf_token": token, "login": "doc1",
                                                "role": "operator", "organization": ""})
    assert r.status_code == 303
    assert doctor.get("/console/requests").status_code == 200
    with Session(engine) as db:
        changes = db.scalars(select(AuditRow).where(AuditRow.action == "staff_user.changed",
                                                    AuditRow.subject_id == "doc1")
                             .order_by(AuditRow.id)).all()
    assert [c.details for c in changes] == [
        {"role": "врач → врач", "organization": "mo1 → mo2"},
        {"role": "врач → оператор", "organization": "mo2 → —"}]
    audit_page = admin.get("/console/audit", params={"action": "staff_user.changed"}).text
    assert "роль или МО сотрудника изменены" in audit_page


def test_an_admin_links_a_doctor_to_his_id_in_the_mis(
        new_client: Callable[[], TestClient], seeded: stand.Seeded, engine: Engine) -> None:
    admin = stand.logged_in(new_client(), "adm")
    page = admin.get("/console/users")
    assert 'data-testid="doctor-id-form"' in page.text
    token = stand.csrf(page)
    bad = admin.post("/console/users/doctor-id", data={"csrf_token": token, "login": "doc1",
                                                       "doctor_id": "врач №1"})
    assert bad.status_code == 422 and "латинские буквы" in bad.text
    assert 'value="врач №1"' in bad.text  # the form keeps what was typed
    not_doctor = admin.post("/console/users/doctor-id",
                            data={"csrf_token": token, "login": "op", "doctor_id": "d-1"})
    assert not_doctor.status_code == 422 and "только для врача" in not_doctor.text
    r = admin.post("/console/users/doctor-id", data={"csrf_token": token, "login": "doc1",
                                                     "doctor_id": " d-ivanov "})
    assert r.status_code == 303 and r.headers["location"].endswith("msg=doctor_id_set")
    listed = admin.get(r.headers["location"]).text
    assert "Идентификатор врача в МИС сохранён." in listed and ">d-ivanov</td>" in listed
    r = admin.post("/console/users/doctor-id", data={"csrf_token": token, "login": "doc1",
                                                     "doctor_id": ""})
    assert r.status_code == 303
    with Session(engine) as db:
        changes = db.scalars(select(AuditRow).where(
            AuditRow.action == "staff_user.doctor_id_set", AuditRow.subject_id == "doc1")
            .order_by(AuditRow.id)).all()
    assert [c.details for c in changes] == [{"from": None, "to": "d-ivanov"},
                                            {"from": "d-ivanov", "to": None}]


def test_the_last_admin_can_neither_be_disabled_nor_demoted(
        client: TestClient, seeded: stand.Seeded, engine: Engine) -> None:
    stand.logged_in(client, "adm")
    token = stand.token_of(client, "/console/users")
    r = client.post("/console/users/adm/disable", data={"csrf_token": token})
    assert r.status_code == 409 and "последний действующий администратор" in r.text
    r = client.post("/console/users/role", data={"csrf_token": token, "login": "adm",
                                                 "role": "operator", "organization": ""})
    assert r.status_code == 409 and "последний действующий администратор" in r.text
    # with a second administrator, the first may step down
    client.post("/console/users/role", data={"csrf_token": token, "login": "op",
                                             "role": "admin", "organization": ""})
    r = client.post("/console/users/adm/disable", data={"csrf_token": token})
    assert r.status_code == 303
    with Session(engine) as db:
        assert db.scalars(select(StaffUserRow.disabled_at)
                          .where(StaffUserRow.login == "adm")).one() is not None
        assert not db.scalars(select(AuditRow).where(
            AuditRow.action == "staff_user.changed", AuditRow.subject_id == "adm")).all()


def test_only_an_admin_manages_staff(client: TestClient, seeded: stand.Seeded) -> None:
    stand.logged_in(client, "op")
    token = stand.token_of(client, "/console/requests")
    r = client.post("/console/users/doc1/disable", data={"csrf_token": token})
    assert r.status_code == 403


def test_failed_and_stalled_requests_raise_the_badge_the_list_and_the_metric(
        client: TestClient, seeded: stand.Seeded, engine: Engine, clock: FakeClock) -> None:
    stalling = stand.start_signing(engine, "a1", clock.now())
    failing = stand.start_signing(engine, "a3", clock.now())
    stand.logged_in(client, "op")
    page = client.get("/console/requests").text
    assert 'data-testid="alert-badge"' not in page
    assert 'medsign_signing_alerts{kind="failed"} 0.0' in client.get("/metrics").text
    stand.fail(engine, failing, clock.now())
    page = client.get("/console/notifications").text  # on every console page
    assert 'data-testid="alert-badge"' in page and "Внимание: 1" in page
    assert 'href="/console/requests?view=alerts"' in page
    listed = client.get("/console/requests", params={"view": "alerts"}).text
    assert f'data-request="{failing}"' in listed and f'data-request="{stalling}"' not in listed
    clock.advance(timedelta(minutes=31))  # [console] stall_after: 30 minutes
    stand.logged_in(client, "op")  # the idle session has ended meanwhile
    assert "Внимание: 2" in client.get("/console/requests").text
    listed = client.get("/console/requests", params={"view": "alerts"}).text
    assert f'data-request="{failing}"' in listed and f'data-request="{stalling}"' in listed
    metrics = client.get("/metrics").text
    assert 'medsign_signing_alerts{kind="failed"} 1.0' in metrics
    assert 'medsign_signing_alerts{kind="stalled"} 1.0' in metrics
    # the search narrows the alerts too
    listed = client.get("/console/requests", params={"view": "alerts", "q": "иванова"}).text
    assert f'data-request="{stalling}"' in listed and f'data-request="{failing}"' not in listed
