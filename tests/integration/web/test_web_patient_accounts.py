"""Patient password accounts: the administrator's service, the console page, and a password
reset by a link mailed through a real SMTP server (aiosmtpd on a local port)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from medsign.accounts import patient_accounts, portal
from medsign.accounts.patient_accounts import Mailing, NewAccount
from medsign.clinic import patients
from medsign.clinic.patients import PatientInput
from medsign.clock import FakeClock
from medsign.db.models import (
    AuditRow,
    LoginDeviceRow,
    PasswordResetTokenRow,
    PortalAccountRow,
    WebSessionRow,
    WorkItemRow,
)
from medsign.domain.patient_accounts import PersonDetails
from medsign.errors import Conflict, Forbidden, Unprocessable
from medsign.integrations.esia import Person
from medsign.integrations.smtp import SmtpSender, SmtpServer
from medsign.mail.flow import MailFlow
from medsign.records.scope import SYSTEM
from medsign.runner.worker import RunnerConfig, Worker
from medsign.web.config import WebSettings
from tests.integration.web import stand
from tests.smtp import Inbox, smtp_server

MAILING = Mailing(enabled=True, ttl=timedelta(hours=1), link_base="http://testserver")
NEW_PASSWORD = "Новый-Пароль-Пациента-7"
# Иванова of the seed (mo1/p1: no СНИЛС; name, birth date and phone decide)
IVANOVA = PersonDetails(last_name="ИВАНОВА", first_name="Мария", middle_name="Петровна",
                        birth_date=date(1985, 3, 14), snils=None, phone="8 999 000-00-01")


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    with smtp_server() as box:
        yield box


@pytest.fixture
def web_settings() -> WebSettings:
    return WebSettings(cookie_secure=False, mailing=MAILING)


def send_mail(engine: Engine, clock: FakeClock, inbox: Inbox) -> None:
    """Run the worker's mail step until nothing is due."""
    server = SmtpServer(host="127.0.0.1", port=inbox.port, starttls=False, ssl=False,
                        username="", password="", timeout=5)
    flow = MailFlow(SmtpSender(server), from_address="Портал пациента <noreply@example.ru>",
                    clock=clock)
    worker = Worker(engine, [flow], RunnerConfig(max_attempts=2), clock=clock)
    asyncio.run(worker.run(asyncio.Event(), until_idle=True))


def create(engine: Engine, clock: FakeClock, *, login: str = "ivanova",
           email: str | None = "Ivanova@Example.org", password: str | None = NEW_PASSWORD,
           person: PersonDetails = IVANOVA, mailing: Mailing = MAILING) -> int:
    with Session(engine, expire_on_commit=False) as db:
        row = patient_accounts.create(
            db, new=NewAccount(login=login, email=email, full_name="", password=password,
                               person=person),
            mailing=mailing, allow_demo_password=False, actor="web:adm", now=clock.now())
        db.commit()
        return row.id


def test_an_account_gets_every_matching_record_of_every_organisation(
        engine: Engine, clock: FakeClock, seeded: stand.Seeded, client: TestClient) -> None:
    with Session(engine) as db:  # the same person in the other МО, with a СНИЛС-less record
        patients.upsert(db, scope=SYSTEM, organization="mo2", external_id="q1", now=clock.now(),
                        data=PatientInput(organization="mo2", last_name="Иванова",
                                          first_name="Мария", middle_name="Петровна",
                                          birth_date=date(1985, 3, 14), phone="+79990000001",
                                          max_user_id=None))
        db.commit()
    account_id = create(engine, clock)
    with Session(engine) as db:
        linked = {(org.code, p.external_id) for p, org in portal.patients_of(db, account_id)}
        row = db.get(PortalAccountRow, account_id)
        assert row is not None and row.email == "ivanova@example.org"
        assert row.full_name == "ИВАНОВА Мария Петровна"
        entry = db.scalars(select(AuditRow).where(
            AuditRow.action == "portal_account.created", AuditRow.subject_id == "ivanova")).one()
    assert linked == {("mo1", "p1"), ("mo2", "q1")}
    assert entry.actor == "web:adm"
    # login by e-mail, in any case
    assert stand.login(client, "IVANOVA@example.ORG", NEW_PASSWORD,
                       path="/portal/login").status_code == 303


def test_nothing_matches_no_account_and_clear_words(engine: Engine, clock: FakeClock,
                                                    seeded: stand.Seeded) -> None:
    stranger = PersonDetails(last_name="Иванова", first_name="Мария", middle_name="Петровна",
                             birth_date=date(1985, 3, 14), snils=None, phone="+79990000999")
    with pytest.raises(Unprocessable, match="Ни одна карта пациента"):
        create(engine, clock, person=stranger)
    with pytest.raises(Unprocessable, match="СНИЛС или подтверждённый"):
        create(engine, clock, person=PersonDetails("Иванова", "Мария", None,
                                                   date(1985, 3, 14), None, None))
    with Session(engine) as db:
        assert db.scalar(select(func.count()).select_from(PortalAccountRow)
                         .where(PortalAccountRow.login == "ivanova")) == 0


def test_login_and_email_are_unique_without_case(engine: Engine, clock: FakeClock,
                                                  seeded: stand.Seeded) -> None:
    create(engine, clock)
    with pytest.raises(Conflict, match="Логин «ivanova» уже занят"):
        create(engine, clock, login="IVANOVA", email="other@example.org")
    with pytest.raises(Conflict, match="уже указана"):
        create(engine, clock, login="ivanova2", email="IVANOVA@example.org")
    with pytest.raises(Unprocessable, match="Задайте пароль или укажите"):
        create(engine, clock, login="ivanova3", email=None, password=None)


def test_disabling_ends_sessions_and_refuses_password_and_esia(
        engine: Engine, clock: FakeClock, seeded: stand.Seeded, client: TestClient) -> None:
    account_id = create(engine, clock)
    assert stand.login(client, "ivanova", NEW_PASSWORD, path="/portal/login").status_code == 303
    assert client.get("/portal").status_code == 200
    with Session(engine) as db:
        patient_accounts.disable(db, name="ivanova", actor="web:adm", now=clock.now())
        row = db.get(PortalAccountRow, account_id)
        assert row is not None
        row.esia_oid = "1000123"  # the same person also signs in through ESIA
        db.commit()
        assert db.scalar(select(func.count()).select_from(WebSessionRow).where(
            WebSessionRow.portal_account_id == account_id)) == 0
    assert client.get("/portal").status_code in (303, 401)
    refused = stand.login(client, "ivanova", NEW_PASSWORD, path="/portal/login")
    assert refused.status_code == 401
    person = Person(oid="1000123", last_name="Иванова", first_name="Мария",
                    middle_name="Петровна", birth_date=date(1985, 3, 14), snils=None,
                    phone="+79990000001", email=None, trusted=True, phone_verified=True)
    with Session(engine) as db, pytest.raises(Forbidden, match="отключён администратором"):
        portal.sign_in_with_esia(db, person=person, now=clock.now())
    with Session(engine) as db:
        patient_accounts.enable(db, name="ivanova", actor="web:adm", now=clock.now())
        db.commit()
        actions = set(db.scalars(select(AuditRow.action).where(
            AuditRow.subject_id == "ivanova", AuditRow.actor == "web:adm")))
    assert {"portal_account.disabled", "portal_account.enabled"} <= actions
    assert stand.login(client, "ivanova", NEW_PASSWORD, path="/portal/login").status_code == 303


def _forgot(client: TestClient, name: str) -> str:
    page = client.get("/portal/password/forgot")
    assert page.status_code == 200
    r = client.post("/portal/password/forgot", data={"login": name,
                                                     "csrf_token": stand.csrf(page)})
    assert r.status_code == 200, r.text
    return r.text


def _set(client: TestClient, link: str, password: str, again: str | None = None) -> Response:
    path = link.removeprefix("http://testserver")
    page = client.get(path)
    assert page.status_code == 200, page.text
    r = client.post(path, data={"password": password, "password_again": again or password,
                                "csrf_token": stand.csrf(page)})
    return r


def test_a_forgotten_password_is_reset_by_the_mailed_link(
        engine: Engine, clock: FakeClock, seeded: stand.Seeded, inbox: Inbox,
        new_client: Callable[[], TestClient]) -> None:
    account_id = create(engine, clock)
    elsewhere = new_client()
    stand.login(elsewhere, "ivanova", NEW_PASSWORD, path="/portal/login")
    assert elsewhere.get("/portal").status_code == 200
    patient = new_client()
    answer = _forgot(patient, "IVANOVA")
    unknown = _forgot(new_client(), "nobody@example.org")
    assert "мы отправили на неё письмо" in answer
    assert answer.count("мы отправили") == unknown.count("мы отправили") == 1
    send_mail(engine, clock, inbox)
    assert [m["To"] for m in inbox.messages] == ["ivanova@example.org"]
    mail = inbox.messages[0]
    assert mail["From"] == "Портал пациента <noreply@example.ru>"
    link = inbox.link(mail)
    with Session(engine) as db:  # sent: the body (with the link) is gone from the database
        item = db.scalars(select(WorkItemRow).where(WorkItemRow.kind == "mail.send")).one()
        stored = db.scalars(select(PasswordResetTokenRow.token_hash)).all()
    assert item.status == "done" and "body" not in item.data
    assert item.data["to"] == "i***@example.org"
    assert link.rsplit("/", 1)[1] not in stored and len(stored) == 1

    weak = _set(patient, link, "short")
    assert weak.status_code == 422 and "Пароль не подходит" in weak.text
    differ = _set(patient, link, "Другой-Хороший-Пароль-1", "Другой-Хороший-Пароль-2")
    assert differ.status_code == 422 and "Пароли не совпадают" in differ.text
    done = _set(patient, link, "Другой-Хороший-Пароль-1")
    assert done.status_code == 303
    assert done.headers["location"] == "/portal/login?msg=password_changed"
    # the other browser's session ended; the new password works, the old one does not
    assert elsewhere.get("/portal").status_code != 200
    assert stand.login(patient, "ivanova", NEW_PASSWORD, path="/portal/login").status_code == 401
    clock.advance(timedelta(seconds=5))
    assert stand.login(patient, "ivanova", "Другой-Хороший-Пароль-1",
                       path="/portal/login").status_code == 303
    with Session(engine) as db:
        assert patient_accounts.list_accounts(db, search="ivanova")[0].last_login_at == \
            clock.now()
    # the link works once
    again = patient.get(link.removeprefix("http://testserver"))
    assert again.status_code == 410 and "уже использована" in again.text
    with Session(engine) as db:
        actions = list(db.scalars(select(AuditRow.action).where(
            AuditRow.subject_type == "portal_account", AuditRow.subject_id == "ivanova")))
        assert db.get(PortalAccountRow, account_id) is not None
    assert "portal_account.reset_link_sent" in actions
    assert "portal_account.password_set_by_link" in actions


def test_an_expired_link_is_refused_and_an_unknown_name_gets_no_mail(
        engine: Engine, clock: FakeClock, seeded: stand.Seeded, inbox: Inbox,
        client: TestClient) -> None:
    create(engine, clock)
    _forgot(client, "ivanova")
    _forgot(client, "no-such-login")
    _forgot(client, "pat3")  # an account without e-mail: no mail either
    send_mail(engine, clock, inbox)
    assert len(inbox.messages) == 1
    clock.advance(timedelta(hours=1, seconds=1))
    page = client.get(inbox.link(inbox.messages[0]).removeprefix("http://testserver"))
    assert page.status_code == 410 and "Срок действия ссылки истёк" in page.text
    assert client.get("/portal/password/reset/not-a-token").status_code == 410


def test_reset_requests_are_rate_limited_by_the_name(
        engine: Engine, clock: FakeClock, seeded: stand.Seeded, client: TestClient) -> None:
    for _ in range(3):
        _forgot(client, "nobody")
    page = client.get("/portal/password/forgot")
    r = client.post("/portal/password/forgot", data={"login": "nobody",
                                                     "csrf_token": stand.csrf(page)})
    assert r.status_code == 429 and "Следующий запрос можно отправить через" in r.text


@pytest.mark.parametrize("web_settings", [WebSettings(cookie_secure=False)])
def test_without_email_the_forgot_page_sends_to_the_clinic(
        seeded: stand.Seeded, client: TestClient) -> None:
    page = client.get("/portal/password/forgot")
    assert "Обратитесь в регистратуру вашей клиники" in page.text
    assert 'data-testid="forgot-form"' not in page.text
    login = client.get("/portal/login")
    assert 'href="/portal/password/forgot"' in login.text


def test_a_refused_mail_fails_for_good_and_a_deferred_one_is_retried(
        engine: Engine, clock: FakeClock, seeded: stand.Seeded, inbox: Inbox) -> None:
    create(engine, clock, password=None)  # the link goes out at once
    inbox.refuse_with = "451 4.3.0 try again later"
    send_mail(engine, clock, inbox)
    with Session(engine) as db:
        item = db.scalars(select(WorkItemRow).where(WorkItemRow.kind == "mail.send")).one()
        assert item.status == "scheduled" and item.attempts == 1
        assert "451" in (item.last_error or "")
    inbox.refuse_with = "550 5.1.1 mailbox unavailable"
    clock.advance(timedelta(minutes=5))
    send_mail(engine, clock, inbox)
    with Session(engine) as db:
        item = db.scalars(select(WorkItemRow).where(WorkItemRow.kind == "mail.send")).one()
    assert item.status == "failed" and "550" in (item.last_error or "")
    assert "body" not in item.data and inbox.messages == []


def test_the_console_manages_patient_accounts(
        engine: Engine, clock: FakeClock, seeded: stand.Seeded, client: TestClient,
        new_client: Callable[[], TestClient], inbox: Inbox) -> None:
    operator = stand.logged_in(new_client(), "op")
    assert operator.get("/console/patients").status_code == 403
    admin = stand.logged_in(client, "adm")
    page = admin.get("/console/patients")
    assert page.status_code == 200 and "Пациенты портала" in page.text
    assert 'href="/console/patients"' in page.text  # in the navigation
    form = {"login": "ivanova", "email": "ivanova@example.org", "full_name": "",
            "last_name": "Иванова", "first_name": "Мария", "middle_name": "Петровна",
            "birth_date": "14.03.1985", "snils": "", "phone": "+79990000999",
            "password": "", "password_again": "", "csrf_token": stand.csrf(page)}
    refused = admin.post("/console/patients", data=form)
    assert refused.status_code == 422 and "Ни одна карта пациента" in refused.text
    assert 'value="+79990000999"' in refused.text and 'value="ivanova@example.org"' in refused.text
    created = admin.post("/console/patients", data={**form, "phone": "+79990000001"})
    assert created.status_code == 303, created.text
    listing = admin.get("/console/patients?q=иванова")
    assert "Поликлиника mo1 (p1)" in listing.text and "ждёт пароля" in listing.text
    send_mail(engine, clock, inbox)
    assert [m["To"] for m in inbox.messages] == ["ivanova@example.org"]
    token = stand.csrf(listing)
    assert admin.post("/console/patients/disable", data={"account": "ivanova",
                                                         "csrf_token": token}).status_code == 303
    assert "отключена" in admin.get("/console/patients").text
    assert admin.post("/console/patients/reset", data={"account": "ivanova",
                                                       "csrf_token": token}).status_code == 409
    assert admin.post("/console/patients/enable", data={"account": "ivanova",
                                                        "csrf_token": token}).status_code == 303
    assert admin.post("/console/patients/reset", data={"account": "ivanova",
                                                       "csrf_token": token}).status_code == 303
    send_mail(engine, clock, inbox)
    assert len(inbox.messages) == 2
    # the first link was voided by the second
    first = client.get(inbox.link(inbox.messages[0]).removeprefix("http://testserver"))
    assert first.status_code == 410
    relinked = admin.post("/console/patients/relink", data={
        "account": "ivanova", "last_name": "Иванова", "first_name": "Мария",
        "middle_name": "Петровна", "birth_date": "14.03.1985", "snils": "",
        "phone": "+79990000001", "csrf_token": token})
    assert relinked.status_code == 303
    no_csrf = admin.post("/console/patients/disable", data={"account": "ivanova"})
    assert no_csrf.status_code == 403


def test_changing_the_email_voids_the_links_sent_to_the_old_one(
        engine: Engine, clock: FakeClock, seeded: stand.Seeded, inbox: Inbox,
        client: TestClient) -> None:
    create(engine, clock, password=None)
    send_mail(engine, clock, inbox)
    with Session(engine) as db:
        with pytest.raises(Conflict, match="уже указана"):
            patient_accounts.change_email(db, name="ivanova", email="PAT1@example.org",
                                          actor="web:adm", now=clock.now())
        with pytest.raises(Unprocessable, match="записана неверно"):
            patient_accounts.change_email(db, name="ivanova", email="not-an-address",
                                          actor="web:adm", now=clock.now())
        patient_accounts.change_email(db, name="ivanova", email="New@Example.org",
                                      actor="web:adm", now=clock.now())
        db.commit()
        row = patient_accounts.find(db, "new@example.org")
        assert row.login == "ivanova"
    old_link = client.get(inbox.link(inbox.messages[0]).removeprefix("http://testserver"))
    assert old_link.status_code == 410 and "уже использована" in old_link.text


def test_disabling_forgets_the_browsers_device_tokens(
        engine: Engine, clock: FakeClock, seeded: stand.Seeded, client: TestClient) -> None:
    account_id = create(engine, clock)
    assert stand.login(client, "ivanova", NEW_PASSWORD, path="/portal/login").status_code == 303
    with Session(engine) as db:
        assert db.scalar(select(func.count()).select_from(LoginDeviceRow).where(
            LoginDeviceRow.portal_account_id == account_id)) == 1
        patient_accounts.disable(db, name="ivanova", actor="web:adm", now=clock.now())
        db.commit()
        assert db.scalar(select(func.count()).select_from(LoginDeviceRow).where(
            LoginDeviceRow.portal_account_id == account_id)) == 0
