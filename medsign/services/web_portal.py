"""Patient portal accounts: password accounts, ESIA sign-in, and "Мои документы".

Matching an ESIA person to our patients (the rule, in order):

1. an account that already signed in with this ESIA ``oid`` keeps its patients;
2. otherwise only a *confirmed* (trusted) ESIA account is matched, to the patients whose
   surname, first name, patronymic (case-insensitive, ё = е) **and** date of birth equal the
   person's — one row per medical organisation the person is a patient of;
3. if no name matches (a changed surname, a spelling), the patients with the same date of
   birth **and** the same mobile phone as the confirmed ESIA account.

СНИЛС is stored on the account (it is what ESIA vouches for), but the МИС does not send it
for patients yet, so it cannot be matched on; when the patients table gets it, it becomes the
first rule. The account is created automatically at the first ESIA sign-in (seed 3.4.1).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from medsign.db.models import AppointmentRow, OrganizationRow, PatientRow, SigningRequestRow
from medsign.db.models_web import PortalAccountPatientRow, PortalAccountRow
from medsign.domain.errors import DomainError
from medsign.domain.phones import normalize_phone
from medsign.services import audit, patients, web_doctor, web_passwords
from medsign.services.errors import Conflict, NotFound, Unprocessable


@dataclass(frozen=True)
class EsiaPerson:
    oid: str
    last_name: str
    first_name: str
    middle_name: str | None
    birth_date: date | None
    snils: str | None
    phone: str | None
    trusted: bool


@dataclass(frozen=True)
class PortalUser:
    id: int
    login: str
    full_name: str

    @property
    def actor(self) -> str:
        return f"portal:{self.login}"


def get(db: Session, account_id: int) -> PortalUser | None:
    row = db.get(PortalAccountRow, account_id)
    if row is None:
        return None
    return PortalUser(row.id, row.login or row.email or f"esia-{row.esia_oid}", row.full_name)


def create_password_account(db: Session, *, login: str, email: str | None, password: str,
                            patient_external_id: str, allow_demo_password: bool, actor: str,
                            now: datetime) -> PortalAccountRow:
    login = login.strip().casefold()
    found = web_passwords.problems(password, login=login, allow_demo=allow_demo_password)
    if found:
        raise Unprocessable("weak_password", "Пароль не подходит: " + "; ".join(found) + ".")
    patient = patients.find(db, patient_external_id)
    if patient is None:
        raise NotFound("patient_not_found", f"Пациент «{patient_external_id}» не найден.")
    if db.scalars(select(PortalAccountRow.id).where(PortalAccountRow.login == login)).first():
        raise Conflict("login_taken", f"Логин «{login}» уже занят.")
    row = PortalAccountRow(login=login, email=(email or "").strip().casefold() or None,
                           password_hash=web_passwords.hash_password(password),
                           full_name=_name(patient), created_at=now, updated_at=now)
    db.add(row)
    db.flush()
    db.add(PortalAccountPatientRow(account_id=row.id, patient_id=patient.id))
    _audit(db, actor, "portal_account.created", row, now)
    return row


def _name(p: PatientRow) -> str:
    return " ".join(x for x in (p.last_name, p.first_name, p.middle_name) if x)


def _audit(db: Session, actor: str, action: str, row: PortalAccountRow, now: datetime) -> None:
    audit.record(db, at=now, actor=actor, action=action, subject_type="portal_account",
                 subject_id=row.login or f"esia-{row.esia_oid}", organization_code=None)


def find_by_login(db: Session, login: str) -> PortalAccountRow | None:
    return db.scalars(select(PortalAccountRow)
                      .where(PortalAccountRow.login == login.strip().casefold())).first()


# -- ESIA ---------------------------------------------------------------------------------

def _fold(text: str | None) -> str:
    return (text or "").strip().casefold().replace("ё", "е")


def match_patients(db: Session, person: EsiaPerson) -> list[PatientRow]:
    """Rules 2 and 3 of the module docstring."""
    if not person.trusted or person.birth_date is None:
        return []
    same_birth = list(db.scalars(select(PatientRow)
                                 .where(PatientRow.birth_date == person.birth_date)))
    wanted = (_fold(person.last_name), _fold(person.first_name), _fold(person.middle_name))
    by_name = [p for p in same_birth
               if (_fold(p.last_name), _fold(p.first_name), _fold(p.middle_name)) == wanted]
    if by_name:
        return by_name
    phone = _phone(person.phone)
    return [p for p in same_birth if phone is not None and p.phone == phone]


def _phone(raw: str | None) -> str | None:
    try:
        return normalize_phone(raw) if raw else None
    except DomainError:
        return None


def sign_in_with_esia(db: Session, *, person: EsiaPerson, now: datetime) -> PortalAccountRow:
    """The account of this ESIA person: found by ``oid`` or created; its patients refreshed.

    Raises ``NotFound`` when the person is none of our patients (or not confirmed)."""
    row = db.scalars(select(PortalAccountRow)
                     .where(PortalAccountRow.esia_oid == person.oid)).first()
    matched = match_patients(db, person)
    if row is None and not matched:
        reason = ("учётная запись на Госуслугах не подтверждена" if not person.trusted
                  else "нет пациента с такими ФИО и датой рождения")
        raise NotFound("esia_person_unknown", reason)
    if row is None:
        row = PortalAccountRow(esia_oid=person.oid, full_name=_esia_name(person),
                               created_at=now, updated_at=now)
        db.add(row)
        db.flush()
        _audit(db, f"esia:{person.oid}", "portal_account.created", row, now)
    row.snils, row.last_login_at, row.updated_at = person.snils, now, now
    _link(db, row, matched)
    return row


def _esia_name(person: EsiaPerson) -> str:
    return " ".join(x for x in (person.last_name, person.first_name, person.middle_name) if x)


def _link(db: Session, row: PortalAccountRow, matched: list[PatientRow]) -> None:
    """Add newly matched patients; links made earlier stay (a patient does not disappear
    from an account because the МИС corrected a spelling)."""
    have = set(db.scalars(select(PortalAccountPatientRow.patient_id)
                          .where(PortalAccountPatientRow.account_id == row.id)))
    for p in matched:
        if p.id not in have:
            db.add(PortalAccountPatientRow(account_id=row.id, patient_id=p.id))


def patients_of(db: Session, account_id: int) -> list[tuple[PatientRow, OrganizationRow]]:
    rows = db.execute(select(PatientRow, OrganizationRow)
                      .join(PortalAccountPatientRow,
                            PortalAccountPatientRow.patient_id == PatientRow.id)
                      .join(OrganizationRow, OrganizationRow.id == PatientRow.organization_id)
                      .where(PortalAccountPatientRow.account_id == account_id)
                      .order_by(OrganizationRow.name)).all()
    return [(r[0], r[1]) for r in rows]


def unlink_all(db: Session, account_id: int) -> None:
    db.execute(delete(PortalAccountPatientRow)
               .where(PortalAccountPatientRow.account_id == account_id))


# -- "Мои документы" ----------------------------------------------------------------------

@dataclass(frozen=True)
class PatientDocuments:
    organization_name: str
    patient_name: str
    patient_id: str
    max_link: str
    max_link_title: str
    cards: list[web_doctor.Card]


def documents(db: Session, *, account_id: int, now: datetime,
              history: timedelta = timedelta(days=180)) -> list[PatientDocuments]:
    """Each of the account's patients with appointments from ``history`` ago onwards."""
    found = []
    for patient, org in patients_of(db, account_id):
        appts = db.scalars(select(AppointmentRow).where(
            AppointmentRow.patient_id == patient.id, AppointmentRow.starts_at >= now - history)
            .order_by(AppointmentRow.starts_at.desc()).limit(50))
        link, link_title = web_doctor.max_link(patient)
        found.append(PatientDocuments(
            org.name, _name(patient), patient.external_id, link, link_title,
            web_doctor.cards(db, [(a, patient) for a in appts], ZoneInfo(org.timezone))))
    return found


def owns_request(db: Session, *, account_id: int, request_id: str) -> SigningRequestRow:
    """The request if it is of one of the account's patients; ``NotFound`` otherwise."""
    row = db.get(SigningRequestRow, request_id)
    mine = {p.id for p, _ in patients_of(db, account_id)}
    if row is None or row.patient_id not in mine:
        raise NotFound("signing_request_not_found", "Документы не найдены.")
    return row


def owned_patient(db: Session, *, account_id: int,
                  patient_external_id: str) -> tuple[PatientRow, OrganizationRow]:
    for patient, org in patients_of(db, account_id):
        if patient.external_id == patient_external_id:
            return patient, org
    raise NotFound("patient_not_found", "Пациент не найден.")
