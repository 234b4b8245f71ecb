"""Patient portal accounts: password accounts, ESIA sign-in, and "Мои документы".

Which patient records an ESIA account gets is decided by one rule,
:func:`medsign.domain.identity.same_person` (a record's СНИЛС decides; without it the full
name, birth date and the ESIA-verified mobile number must all agree), applied to the records
of every organisation. The candidates read from the database are only those the rule could
accept: the records with the person's СНИЛС and the records born on the person's birth
date.

The account is created at the first ESIA sign-in that matches at least one record (seed
3.4.1). Later sign-ins add newly matching records; a linked record is dropped when the
rule now refuses it (the МИС has since added a СНИЛС that is not this person's). A person
whom no record matches gets no account and no link: the page sends them to the clinic,
with the same words whether or not a namesake exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from medsign.accounts import passwords
from medsign.db.models import (
    AppointmentRow,
    OrganizationRow,
    PatientRow,
    PortalAccountPatientRow,
    PortalAccountRow,
    SigningRequestRow,
)
from medsign.domain.errors import DomainError
from medsign.domain.identity import EsiaIdentity, RecordIdentity, same_person
from medsign.domain.phones import normalize_phone
from medsign.domain.snils import snils_digits
from medsign.errors import Conflict, Forbidden, NotFound, Unprocessable
from medsign.integrations.esia import Person
from medsign.records import audit, patients
from medsign.records.patients import full_name
from medsign.records.scope import SYSTEM, Scope

DISABLED_TEXT = ("Вход в эту учётную запись отключён администратором портала. Если это "
                 "ошибка, обратитесь в вашу клинику — там помогут восстановить доступ.")


def esia_identity(person: Person) -> EsiaIdentity:
    """What ESIA vouches for, as the matching rule reads it."""
    return EsiaIdentity(last_name=person.last_name, first_name=person.first_name,
                        middle_name=person.middle_name, birth_date=person.birth_date,
                        snils=snils_digits(person.snils),
                        verified_phone=_phone(person.phone) if person.phone_verified else None,
                        trusted=person.trusted)


@dataclass(frozen=True)
class PortalUser:
    id: int
    login: str
    full_name: str

    @property
    def actor(self) -> str:
        return f"portal:{self.login}"


def get(db: Session, account_id: int) -> PortalUser | None:
    """An account that may be signed in (for a session): None when missing or disabled."""
    row = db.get(PortalAccountRow, account_id)
    if row is None or row.disabled_at is not None:
        return None
    return PortalUser(row.id, account_name(row), row.full_name)


def account_name(row: PortalAccountRow) -> str:
    """How audit and pages name an account: its login, else its e-mail, else its ESIA id."""
    return row.login or row.email or f"esia-{row.esia_oid}"


def create_password_account(db: Session, *, login: str, email: str | None, password: str,
                            organization: str, patient_external_id: str,
                            allow_demo_password: bool, actor: str,
                            now: datetime) -> PortalAccountRow:
    login = login.strip().casefold()
    found = passwords.problems(password, login=login, allow_demo=allow_demo_password)
    if found:
        raise Unprocessable("weak_password", "Пароль не подходит: " + "; ".join(found) + ".")
    patient, _ = patients.get(db, scope=SYSTEM, organization=organization,
                              external_id=patient_external_id)
    if db.scalars(select(PortalAccountRow.id).where(PortalAccountRow.login == login)).first():
        raise Conflict("login_taken", f"Логин «{login}» уже занят.")
    row = PortalAccountRow(login=login, email=(email or "").strip().casefold() or None,
                           password_hash=passwords.hash_password(password),
                           full_name=full_name(patient), created_at=now,
                           updated_at=now)
    db.add(row)
    db.flush()
    db.add(PortalAccountPatientRow(account_id=row.id, patient_id=patient.id))
    audit_account(db, actor, "portal_account.created", row, now)
    return row


def audit_account(db: Session, actor: str, action: str, row: PortalAccountRow, now: datetime,
           details: dict[str, object] | None = None) -> None:
    audit.record(db, at=now, actor=actor, action=action, subject_type="portal_account",
                 subject_id=account_name(row)[:100], organization_code=None, details=details)


def find_by_login(db: Session, login: str) -> PortalAccountRow | None:
    return db.scalars(select(PortalAccountRow)
                      .where(PortalAccountRow.login == login.strip().casefold())).first()


# -- ESIA ---------------------------------------------------------------------------------

def record_identity(p: PatientRow) -> RecordIdentity:
    return RecordIdentity(last_name=p.last_name, first_name=p.first_name,
                          middle_name=p.middle_name, birth_date=p.birth_date, snils=p.snils,
                          phone=p.phone)


def match_patients(db: Session, who: EsiaIdentity) -> list[PatientRow]:
    """The records of every organisation that are this person's (``domain.identity``):
    ``who`` is what ESIA vouches for, or what the portal's administrator checked
    (``domain.patient_accounts.person_identity``)."""
    if not who.trusted:
        return []
    wanted = [PatientRow.snils == who.snils] if who.snils else []
    if who.birth_date is not None:
        wanted.append(PatientRow.birth_date == who.birth_date)
    if not wanted:
        return []
    candidates = db.scalars(select(PatientRow).where(or_(*wanted)).order_by(PatientRow.id))
    return [p for p in candidates if same_person(record_identity(p), who)]


def _phone(raw: str | None) -> str | None:
    try:
        return normalize_phone(raw) if raw else None
    except DomainError:
        return None


def sign_in_with_esia(db: Session, *, person: Person, now: datetime) -> PortalAccountRow:
    """The account of this ESIA person: found by ``oid`` or created; its patients refreshed.

    Raises ``NotFound`` when no record is certainly this person's (or the account is not
    confirmed) and the person has no account yet: nothing is created or linked then;
    ``Forbidden`` when the administrator disabled the account."""
    row = db.scalars(select(PortalAccountRow)
                     .where(PortalAccountRow.esia_oid == person.oid)).first()
    if row is not None and row.disabled_at is not None:
        raise Forbidden("portal_account_disabled", DISABLED_TEXT)
    matched = match_patients(db, esia_identity(person))
    if row is None and not matched:
        reason = ("учётная запись на Госуслугах не подтверждена" if not person.trusted
                  else "нет пациента, совпадающего по СНИЛС или по ФИО, дате рождения "
                       "и подтверждённому телефону")
        raise NotFound("esia_person_unknown", reason)
    if row is None:
        row = PortalAccountRow(esia_oid=person.oid, full_name=person.full_name,
                               created_at=now, updated_at=now)
        db.add(row)
        db.flush()
        audit_account(db, f"esia:{person.oid}", "portal_account.created", row, now)
    row.snils, row.last_login_at, row.updated_at = person.snils, now, now
    unlink_refused(db, row, esia_identity(person), actor=f"esia:{person.oid}", now=now)
    link(db, row, matched)
    return row


def unlink_refused(db: Session, row: PortalAccountRow, who: EsiaIdentity, *, actor: str,
                   now: datetime) -> list[PatientRow]:
    """Drop the account's records the rule now refuses for ``who``: a record that got a
    СНИЛС which is not this person's (or links made by an older, weaker rule)."""
    dropped = []
    for patient, org in patients_of(db, row.id):
        if not same_person(record_identity(patient), who):
            db.execute(delete(PortalAccountPatientRow).where(
                PortalAccountPatientRow.account_id == row.id,
                PortalAccountPatientRow.patient_id == patient.id))
            audit.record(db, at=now, actor=actor,
                         action="portal_account.patient_unlinked", subject_type="patient",
                         subject_id=patient.external_id, organization_code=org.code,
                         details={"account": account_name(row)})
            dropped.append(patient)
    return dropped


def link(db: Session, row: PortalAccountRow, matched: list[PatientRow]) -> list[PatientRow]:
    """Add newly matched patients (the ones still linked were matched by the same rule);
    returns the added ones."""
    have = set(db.scalars(select(PortalAccountPatientRow.patient_id)
                          .where(PortalAccountPatientRow.account_id == row.id)))
    added = [p for p in matched if p.id not in have]
    for p in added:
        db.add(PortalAccountPatientRow(account_id=row.id, patient_id=p.id))
    return added


def patients_of(db: Session, account_id: int) -> list[tuple[PatientRow, OrganizationRow]]:
    rows = db.execute(select(PatientRow, OrganizationRow)
                      .join(PortalAccountPatientRow,
                            PortalAccountPatientRow.patient_id == PatientRow.id)
                      .join(OrganizationRow, OrganizationRow.id == PatientRow.organization_id)
                      .where(PortalAccountPatientRow.account_id == account_id)
                      .order_by(OrganizationRow.name)).all()
    return [(r[0], r[1]) for r in rows]


def owns_request(db: Session, *, account_id: int, request_id: str) -> SigningRequestRow:
    """The request if it is of one of the account's patients; ``NotFound`` otherwise."""
    row = db.get(SigningRequestRow, request_id)
    mine = {p.id for p, _ in patients_of(db, account_id)}
    if row is None or row.patient_id not in mine:
        raise NotFound("signing_request_not_found", "Документы не найдены.")
    return row


def owned_appointment(db: Session, *, account_id: int, organization_code: str,
                      appointment_external_id: str) -> AppointmentRow:
    """An appointment of one of the account's patients (its id is the МИС's, unique within
    its organisation); ``NotFound`` for any other, whoever's it is."""
    mine = {p.id: org for p, org in patients_of(db, account_id)}
    row = db.scalars(select(AppointmentRow).join(
        OrganizationRow, OrganizationRow.id == AppointmentRow.organization_id).where(
        OrganizationRow.code == organization_code,
        AppointmentRow.external_id == appointment_external_id)).first()
    if row is None or row.patient_id not in mine:
        raise NotFound("appointment_not_found", "Запись на приём не найдена.")
    return row


def request_scope(db: Session, *, account_id: int, request_id: str,
                  actor: str) -> tuple[SigningRequestRow, Scope]:
    """The account's own request (``owns_request``) and the scope that reads it: its
    organisation only."""
    row = owns_request(db, account_id=account_id, request_id=request_id)
    org = db.get(OrganizationRow, row.organization_id)
    if org is None:
        raise NotFound("signing_request_not_found", "Документы не найдены.")
    return row, Scope(actor=actor, organizations=frozenset({org.code}))


def owned_patient(db: Session, *, account_id: int, organization_code: str,
                  patient_external_id: str) -> tuple[PatientRow, OrganizationRow]:
    """One of the account's patients, named as the МИС names it: within its organisation."""
    for patient, org in patients_of(db, account_id):
        if (org.code, patient.external_id) == (organization_code, patient_external_id):
            return patient, org
    raise NotFound("patient_not_found", "Пациент не найден.")
