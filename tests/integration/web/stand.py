"""Seed data and browser helpers for the web tests."""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from medsign.accounts import portal, staff
from medsign.clinic import appointments, patients
from medsign.clinic.appointments import AppointmentInput, ConsentInput
from medsign.clinic.patients import PatientInput
from medsign.db.models import (
    AppointmentRow,
    DocumentRow,
    OrganizationRow,
    SigningRequestRow,
    WorkItemRow,
)
from medsign.demo import ORGANIZATION
from medsign.domain.organizations import parse_quiet_hours
from medsign.notifications.service import NotificationPolicy
from medsign.records import organizations
from medsign.records.scope import SYSTEM
from medsign.serving import BotSettings
from medsign.signing import service as signing
from tests.identities import Identities

PASSWORD = "Correct-Horse-42"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def bot_settings() -> BotSettings:
    policy = NotificationPolicy(offset=timedelta(hours=24), min_lead=timedelta(hours=1),
                                default_quiet_hours=parse_quiet_hours("21:00-09:00"),
                                callback_ttl=timedelta(hours=48),
                                goskey_bot_url="https://max.ru/goskey_bot")
    return BotSettings(policy=policy, deep_link_base="https://max.ru/medsign_test_bot",
                       link_ttl=timedelta(hours=1), webhook_secret=None)


@dataclass(frozen=True)
class Seeded:
    today_mo1: str = "a1"  # Иванова, today 14:00 Moscow
    tomorrow_mo1: str = "a2"  # Смирнов, tomorrow
    today_mo2: str = "a3"  # Кузнецова, another organisation
    later_mo1: str = "a4"  # in three days: not on the board


PEOPLE = {
    "p1": ("mo1", "Иванова", "Мария", "Петровна", "1985-03-14", "+79990000001"),
    "p2": ("mo1", "Смирнов", "Алексей", "Игоревич", "1972-11-02", "+79990000002"),
    "p3": ("mo2", "Кузнецова", "Ольга", None, "1990-07-25", "+79990000003"),
}


def seed(engine: Engine, now: datetime, policy: NotificationPolicy) -> Seeded:
    with Session(engine, expire_on_commit=False) as db:
        for code, tz in (("mo1", "Europe/Moscow"), ("mo2", "Asia/Yekaterinburg")):
            organizations.upsert(db, scope=SYSTEM, code=code, now=now, data=replace(
                ORGANIZATION, name=f"Поликлиника {code}", timezone=tz))
        for pid, (org, last, first, middle, born, phone) in PEOPLE.items():
            patients.upsert(db, scope=SYSTEM, organization=org, external_id=pid, now=now,
                            data=PatientInput(
                organization=org, last_name=last, first_name=first, middle_name=middle,
                birth_date=datetime.fromisoformat(born).date(), phone=phone, max_user_id=None))
        for aid, org, pid, hours in (("a1", "mo1", "p1", 4), ("a2", "mo1", "p2", 26),
                                     ("a3", "mo2", "p3", 3), ("a4", "mo1", "p1", 72)):
            appointment(db, aid, org, pid, now + timedelta(hours=hours), now, policy)
        _users(db, now)
        db.commit()
    return Seeded()


def appointment(db: Session, aid: str, org: str, pid: str, starts_at: datetime, now: datetime,
                policy: NotificationPolicy | None = None) -> None:
    appointments.upsert(db, scope=SYSTEM, organization=org, external_id=aid, now=now,
                        policy=policy,
                        data=AppointmentInput(
        organization=org, patient=pid, starts_at=starts_at, doctor_name="Петрова А. С.",
        service_name="Приём врача-терапевта", status="scheduled",
        consents=[ConsentInput("medical_intervention", "electronic"),
                  ConsentInput("personal_data", "electronic"),
                  ConsentInput("paid_services_contract", "paper")]))


def _users(db: Session, now: datetime) -> None:
    for login, role, org in (("doc1", "doctor", "mo1"), ("doc2", "doctor", "mo2"),
                             ("op", "operator", None), ("adm", "admin", None)):
        staff.create(db, user=staff.NewUser(login=login, full_name=f"Сотрудник {login}",
                                            role=role, organization=org, password=PASSWORD),
                     allow_demo_password=False, actor="test", now=now)
    portal.create_password_account(db, login="pat1", email="pat1@example.org",
                                   password=PASSWORD, organization="mo1",
                                   patient_external_id="p1",
                                   allow_demo_password=False, actor="test", now=now)
    portal.create_password_account(db, login="pat3", email=None, password=PASSWORD,
                                   organization="mo2", patient_external_id="p3",
                                   allow_demo_password=False,
                                   actor="test", now=now)


def start_signing(engine: Engine, aid: str, now: datetime) -> str:
    """Start signing the seeded appointment ``aid`` (the seeds' ids are unique across МО)."""
    with Session(engine, expire_on_commit=False) as db:
        org = db.scalars(select(OrganizationRow.code).join(
            AppointmentRow, AppointmentRow.organization_id == OrganizationRow.id)
            .where(AppointmentRow.external_id == aid)).one()
        row = signing.start(db, scope=SYSTEM, now=now, identities=Identities(),
                            command=signing.StartRequest(
            organization_code=org, appointment_external_id=aid, consent_kinds=None,
            initiated_by="mis"))
        db.commit()
        return row.id


def complete(engine: Engine, request_id: str, now: datetime) -> bytes:
    """Pretend the transaction went through: state ``completed`` and a platform archive."""
    pdf = b"%PDF-1.4 test document"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("ИДС XML.xml", b"<x/>")
        zf.writestr("ИДС PDF.pdf", pdf)
    content = buffer.getvalue()
    with Session(engine) as db:
        db.execute(update(SigningRequestRow).where(SigningRequestRow.id == request_id)
                   .values(state="completed", completed_at=now, updated_at=now))
        db.add(DocumentRow(signing_request_id=request_id, kind="platform_archive",
                           name="archive.zip", media_type="application/zip", content=content,
                           sha256=hashlib.sha256(content).hexdigest(), size=len(content),
                           created_at=now))
        db.commit()
    return pdf


def fail(engine: Engine, request_id: str, now: datetime) -> None:
    """As the runner leaves it when retries are exhausted: request and item ``failed``."""
    with Session(engine) as db:
        row = db.get(SigningRequestRow, request_id)
        assert row is not None
        row.failed_from, row.state, row.reason = row.state, "failed", "платформа: 500"
        db.execute(update(WorkItemRow).where(WorkItemRow.ref == request_id)
                   .values(status="failed", next_run_at=None, last_error="goskey: 500",
                           updated_at=now))
        db.commit()


# -- browser -------------------------------------------------------------------------------

def csrf(page: Response) -> str:
    found = _CSRF.search(page.text)
    assert found is not None, page.text[:500]
    return found.group(1)


def login(client: TestClient, login_name: str, password: str = PASSWORD, *,
          path: str = "/login") -> Response:
    page = client.get(path)
    answer: Response = client.post(path, data={"login": login_name, "password": password,
                                               "csrf_token": csrf(page)})
    return answer


def logged_in(client: TestClient, login_name: str, *, path: str = "/login") -> TestClient:
    r = login(client, login_name, path=path)
    assert r.status_code == 303, r.text
    return client


def link(html: str, testid: str) -> str:
    """The address of the link marked ``data-testid=testid``."""
    found = re.search(r'<a href="([^"]+)" data-testid="' + re.escape(testid) + '"', html)
    assert found is not None, testid
    return found.group(1).replace("&amp;", "&")


def token_of(client: TestClient, path: str) -> str:
    """The CSRF token of the signed-in session, as a page carries it."""
    return csrf(client.get(path))


def browser(app: FastAPI, address: str = "203.0.113.10",
            headers: dict[str, str] | None = None) -> TestClient:
    """A browser of its own (cookies) at ``address``, as the login limits see it."""
    return TestClient(app, follow_redirects=False, client=(address, 40000), headers=headers)
