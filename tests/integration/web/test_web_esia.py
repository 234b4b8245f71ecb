"""«Войти через Госуслуги (ЕСИА)»: the whole round trip against the ESIA emulator, and the
matching rule (``domain.identity``): the real person gets their records, a namesake nothing."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from medsign import health as web_health
from medsign.app import create_app
from medsign.clinic import patients
from medsign.clinic.patients import PatientInput
from medsign.clock import FakeClock
from medsign.crypto import KeyPair, issue_certificate, make_ca
from medsign.crypto.signers import PureSigner
from medsign.db.models import AuditRow, PatientRow, PortalAccountPatientRow, PortalAccountRow
from medsign.health import HealthRecorder
from medsign.integrations.esia import EsiaClient
from medsign.integrations.esia.emulator import (
    DEFAULT_PERSONS,
    EmulatorConfig,
    TestPerson,
    create_emulator,
)
from medsign.records.scope import SYSTEM
from medsign.web.config import WebSettings
from tests.integration.web import stand

ESIA = "http://esia.test"
REDIRECT = "http://testserver/portal/esia/callback"
MARIA, PETROV, UNCONFIRMED = "1000299700", "1000299655", "1000299701"
# Namesakes of Мария (p1: Иванова Мария Петровна, 14.03.1985, +79990000001 in the МИС):
# her number not verified at ESIA; another verified number; her verified number but another
# СНИЛС; her verified number and no СНИЛС at all.
UNVERIFIED, OTHER_PHONE, OTHER_SNILS, NO_SNILS = ("1000299702", "1000299703", "1000299704",
                                                  "1000299705")
MARRIED = "1000299706"  # Мария herself, by СНИЛС, under her new surname and without a phone
MARIA_SNILS, OTHER = "145-678-912 08", "123-456-789 64"
_MARIA = TestPerson(oid=MARIA, last_name="ИВАНОВА", first_name="Мария", middle_name="Петровна",
                    birth_date=date(1985, 3, 14), gender="F", snils=MARIA_SNILS,
                    mobile="+79990000001", email=None)
PERSONS = (*DEFAULT_PERSONS, _MARIA,
           TestPerson(oid=UNCONFIRMED, last_name="Смирнов", first_name="Алексей",
                      middle_name="Игоревич", birth_date=date(1972, 11, 2), gender="M",
                      snils=None, mobile=None, email=None, trusted=False),
           replace(_MARIA, oid=UNVERIFIED, snils=OTHER, mobile_verified=False),
           replace(_MARIA, oid=OTHER_PHONE, snils=OTHER, mobile="+79990000777"),
           replace(_MARIA, oid=OTHER_SNILS, snils=OTHER),
           replace(_MARIA, oid=NO_SNILS, snils=None),
           replace(_MARIA, oid=MARRIED, last_name="Петрова", mobile=None))
NOT_FOUND = "Мы не смогли точно найти вашу медицинскую карту"
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
    assert r.status_code == 403 and NOT_FOUND in r.text and "регистратуру" in r.text
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


# -- the matching rule ---------------------------------------------------------------------

def linked(engine: Engine, oid: str) -> set[str]:
    """The external ids of the patient records linked to the ESIA account ``oid``."""
    with Session(engine) as db:
        return set(db.scalars(select(PatientRow.external_id)
                              .join(PortalAccountPatientRow,
                                    PortalAccountPatientRow.patient_id == PatientRow.id)
                              .join(PortalAccountRow,
                                    PortalAccountRow.id == PortalAccountPatientRow.account_id)
                              .where(PortalAccountRow.esia_oid == oid)))


def put_maria(engine: Engine, clock: FakeClock, *, pid: str = "p1", org: str = "mo1",
              snils: str | None = None) -> None:
    """Мария's record as the МИС sends it (``snils``: what the МИС knows of her СНИЛС)."""
    with Session(engine) as db:
        patients.upsert(db, scope=SYSTEM, organization=org, external_id=pid, now=clock.now(),
                        data=PatientInput(
            organization=org, last_name="Иванова", first_name="Мария", middle_name="Петровна",
            birth_date=date(1985, 3, 14), phone="+79990000001", max_user_id=None, snils=snils))
        db.commit()


def refused_without_trace(round_trip: Round, engine: Engine, oid: str) -> None:
    r = round_trip.sign_in(oid)
    assert r.status_code == 403 and NOT_FOUND in r.text
    # no hint of whose record it was (the id as a word: random CSRF tokens may hold "p1")
    assert "Иванова" not in r.text and not re.search(r"(?<![\w-])p1(?![\w-])", r.text)
    assert accounts(engine, oid) == 0 and linked(engine, oid) == set()
    assert round_trip.portal.get("/portal").status_code == 303  # not signed in
    with Session(engine) as db:
        assert db.scalars(select(AuditRow).where(
            AuditRow.action == "web.login_esia_unknown",
            AuditRow.actor == f"esia:{oid}")).one()


@pytest.mark.parametrize("oid", [UNVERIFIED, OTHER_PHONE])
def test_a_namesake_without_the_verified_phone_of_the_record_is_refused(
        round_trip: Round, engine: Engine, oid: str) -> None:
    refused_without_trace(round_trip, engine, oid)


def test_the_namesakes_refusal_reads_like_a_strangers(round_trip: Round) -> None:
    namesake = round_trip.sign_in(OTHER_PHONE).text
    round_trip.portal.cookies.clear()
    stranger = round_trip.sign_in(PETROV).text
    assert _message(namesake) == _message(stranger) and NOT_FOUND in _message(namesake)


def _message(page: str) -> str:
    found = re.search(r'data-testid="message-error">\s*<p class="msg-title">[^<]*</p>\s*'
                      r'<p>(.*?)</p>', page, re.S)
    assert found, page
    return found.group(1).strip()


@pytest.mark.parametrize("oid", [OTHER_SNILS, NO_SNILS])
def test_a_record_with_snils_refuses_a_namesake_with_another_or_no_snils(
        round_trip: Round, engine: Engine, clock: FakeClock, oid: str) -> None:
    put_maria(engine, clock, snils=MARIA_SNILS)  # name, birth date and phone all agree
    refused_without_trace(round_trip, engine, oid)


def test_the_record_with_snils_links_the_person_with_it_whatever_her_surname(
        round_trip: Round, engine: Engine, clock: FakeClock) -> None:
    put_maria(engine, clock, snils=MARIA_SNILS)
    r = round_trip.sign_in(MARRIED)
    assert r.status_code == 303 and r.headers["location"] == "/portal"
    assert linked(engine, MARRIED) == {"p1"}
    assert 'data-appointment="a1"' in round_trip.portal.get("/portal").text


def test_the_real_person_gets_her_records_in_every_organisation_and_a_namesake_none(
        round_trip: Round, engine: Engine, clock: FakeClock) -> None:
    put_maria(engine, clock, pid="p5", org="mo2")  # the same woman, a patient in mo2 too
    refused_without_trace(round_trip, engine, OTHER_PHONE)
    round_trip.portal.cookies.clear()
    assert round_trip.sign_in(MARIA).status_code == 303
    assert linked(engine, MARIA) == {"p1", "p5"}


def test_a_record_that_gets_another_snils_leaves_the_account_at_the_next_sign_in(
        round_trip: Round, engine: Engine, clock: FakeClock) -> None:
    assert round_trip.sign_in(MARIA).status_code == 303
    assert linked(engine, MARIA) == {"p1"}
    put_maria(engine, clock, snils=OTHER)  # the МИС learns p1 is someone else
    round_trip.portal.cookies.clear()
    assert round_trip.sign_in(MARIA).status_code == 303  # her account stays, empty
    assert linked(engine, MARIA) == set()
    assert 'data-appointment="a1"' not in round_trip.portal.get("/portal").text
    with Session(engine) as db:
        assert db.scalars(select(AuditRow).where(
            AuditRow.action == "portal_account.patient_unlinked")).one().subject_id == "p1"
