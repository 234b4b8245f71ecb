"""«Войти через Госуслуги (ЕСИА)»: the whole round trip against the ESIA emulator."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from medsign.api.app import create_app
from medsign.clock import FakeClock
from medsign.crypto import KeyPair, issue_certificate, make_ca
from medsign.crypto.signers import PureSigner
from medsign.db.models import AuditRow
from medsign.db.models_web import PortalAccountRow
from medsign.integrations.esia import EsiaClient
from medsign.integrations.esia.emulator import (
    DEFAULT_PERSONS,
    EmulatorConfig,
    TestPerson,
    create_emulator,
)
from medsign.services import web_health
from medsign.services.web_health import HealthRecorder
from medsign.web.config import WebSettings
from tests.integration.web import stand

ESIA = "http://esia.test"
REDIRECT = "http://testserver/portal/esia/callback"
MARIA, PETROV, UNCONFIRMED = "1000299700", "1000299655", "1000299701"
PERSONS = (*DEFAULT_PERSONS,
           TestPerson(oid=MARIA, last_name="ИВАНОВА", first_name="Мария", middle_name="Петровна",
                      birth_date=date(1985, 3, 14), gender="F", snils="145-678-912 08",
                      mobile="+79990000001", email=None),
           TestPerson(oid=UNCONFIRMED, last_name="Смирнов", first_name="Алексей",
                      middle_name="Игоревич", birth_date=date(1972, 11, 2), gender="M",
                      snils=None, mobile=None, email=None, trusted=False))
_REQUEST_ID = re.compile(r'name="request_id" value="([^"]+)"')


@pytest.fixture(scope="module")
def system_keys() -> KeyPair:
    ca = make_ca("УЦ портала (тест)", organization="medsign")
    return issue_certificate(ca, common_name="Портал medsign (тест)", organization="medsign",
                             ogrn="1027700132195", inn="7707083893")


@dataclass
class Round:
    portal: TestClient
    esia: TestClient  # the user's browser on ESIA's pages
    health: HealthRecorder

    def start(self) -> str:
        page = self.portal.get("/portal/login")
        assert 'data-testid="esia-login"' in page.text
        r = self.portal.post("/portal/esia/start", data={"csrf_token": stand.csrf(page)})
        assert r.status_code == 303, r.text
        location: str = r.headers["location"]
        assert location.startswith(f"{ESIA}/aas/oauth2/ac?")
        return location

    def at_esia(self, url: str, oid: str, action: str = "login") -> str:
        """Choose a person on ESIA's page; the path and query we are sent back to."""
        page = self.esia.get(url)
        request_id = _REQUEST_ID.search(page.text)
        assert request_id, page.text
        answer = self.esia.post("/aas/oauth2/login", data={
            "request_id": request_id.group(1), "oid": oid, "action": action})
        location: str = answer.headers["location"]
        assert answer.status_code == 302 and location.startswith(REDIRECT)
        return location.removeprefix("http://testserver")

    def sign_in(self, oid: str) -> httpx.Response:
        answer: httpx.Response = self.portal.get(self.at_esia(self.start(), oid))
        return answer


@pytest.fixture
def round_trip(engine: Engine, clock: FakeClock, seeded: stand.Seeded,
               system_keys: KeyPair) -> Iterator[Round]:
    emulator = create_emulator(EmulatorConfig(client_id="MEDSIGN", redirect_urls=(REDIRECT,),
                                              persons=PERSONS))

    def client() -> EsiaClient:
        return EsiaClient(ESIA, "MEDSIGN", REDIRECT, signer=PureSigner(system_keys),
                          transport=httpx.ASGITransport(app=emulator))
    health = HealthRecorder(engine, clock)
    app = create_app(engine, clock=clock, web=WebSettings(cookie_secure=False, esia=client,
                                                          health=health))
    with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as portal, \
            TestClient(emulator, base_url=ESIA, follow_redirects=False) as esia:
        yield Round(portal, esia, health)


def accounts(engine: Engine, oid: str) -> int:
    with Session(engine) as db:
        return db.scalar(select(func.count()).select_from(PortalAccountRow)
                         .where(PortalAccountRow.esia_oid == oid)) or 0


def test_a_known_patient_signs_in_and_gets_an_account(round_trip: Round, engine: Engine,
                                                      clock: FakeClock) -> None:
    r = round_trip.sign_in(MARIA)
    assert r.status_code == 303 and r.headers["location"] == "/portal"
    page = round_trip.portal.get("/portal").text
    assert 'data-appointment="a1"' in page and "Смирнов" not in page
    assert accounts(engine, MARIA) == 1
    with Session(engine) as db:
        account = db.scalars(select(PortalAccountRow)
                             .where(PortalAccountRow.esia_oid == MARIA)).one()
        actions = {a.action for a in db.scalars(select(AuditRow).where(
            AuditRow.subject_id == f"esia-{MARIA}"))}
    assert account.snils == "145-678-912 08" and account.password_hash is None
    assert {"portal_account.created", "web.login"} <= actions
    round_trip.health.flush()
    with Session(engine) as db:
        esia = {h.system: h for h in web_health.summary(db, now=clock.now())}["esia"]
    assert esia.calls_last_hour == 1 and esia.failures_last_hour == 0


def test_the_second_sign_in_uses_the_same_account(round_trip: Round, engine: Engine) -> None:
    round_trip.sign_in(MARIA)
    round_trip.portal.cookies.clear()
    assert round_trip.sign_in(MARIA).headers["location"] == "/portal"
    assert accounts(engine, MARIA) == 1


def test_an_unknown_person_is_told_what_to_do(round_trip: Round, engine: Engine) -> None:
    r = round_trip.sign_in(PETROV)
    assert r.status_code == 403 and "не нашли вас среди пациентов" in r.text
    assert accounts(engine, PETROV) == 0
    assert round_trip.portal.get("/portal").status_code == 303
    with Session(engine) as db:
        assert db.scalars(select(AuditRow).where(
            AuditRow.action == "web.login_esia_unknown")).one().actor == f"esia:{PETROV}"


def test_an_unconfirmed_account_is_not_matched(round_trip: Round, engine: Engine) -> None:
    r = round_trip.sign_in(UNCONFIRMED)
    assert r.status_code == 403 and "не подтверждена" in r.text
    assert accounts(engine, UNCONFIRMED) == 0


def test_cancelling_at_esia_is_explained(round_trip: Round) -> None:
    back = round_trip.at_esia(round_trip.start(), MARIA, action="cancel")
    r = round_trip.portal.get(back)
    assert r.status_code == 403 and "Вход через Госуслуги отменён" in r.text


def test_a_forged_state_is_refused_and_the_real_one_is_spent(round_trip: Round) -> None:
    back = round_trip.at_esia(round_trip.start(), MARIA)
    query = dict(urllib.parse.parse_qsl(back.split("?", 1)[1]))
    forged = round_trip.portal.get("/portal/esia/callback",
                                   params={**query, "state": "not-the-state"})
    assert forged.status_code == 403 and "не относится к этому входу" in forged.text
    replay = round_trip.portal.get(back)  # the state was used up by the forged attempt
    assert replay.status_code == 400 and "не начат или устарел" in replay.text


def test_a_callback_without_a_started_login_is_refused(round_trip: Round) -> None:
    r = round_trip.portal.get("/portal/esia/callback", params={"code": "x", "state": "y"})
    assert r.status_code == 400 and "не начат или устарел" in r.text


def test_without_esia_the_button_says_so(client: TestClient) -> None:
    page = client.get("/portal/login")
    assert "не настроен" in page.text and 'data-testid="esia-login"' not in page.text
    r = client.post("/portal/esia/start", data={"csrf_token": stand.csrf(page)})
    assert r.status_code == 503 and "не настроен" in r.text
