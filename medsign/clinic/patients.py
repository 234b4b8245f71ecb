"""Patients: idempotent upsert by the МИС's id; each patient belongs to one organisation.

The МИС's id is unique within its organisation only (two clinics may both number patients
from 1): every lookup names the organisation, and one outside the caller's scope is "not
found" whether or not it holds such an id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.orm import Session

from medsign.db.models import OrganizationRow, PatientRow
from medsign.domain.patients import Patient
from medsign.domain.search import name_key
from medsign.notifications import service as notifications
from medsign.notifications.service import NotificationPolicy
from medsign.records import audit, organizations
from medsign.records.patients import find
from medsign.records.scope import Scope


@dataclass(frozen=True)
class PatientInput:
    """``organization`` repeats the one the patient is put under (the API's path) and may be
    omitted; when stated, it must be the same (``organizations.require_same``)."""

    organization: str | None
    last_name: str
    first_name: str
    middle_name: str | None
    birth_date: date
    phone: str | None
    max_user_id: int | None
    snils: str | None = None


def upsert(db: Session, *, scope: Scope, organization: str, external_id: str,
           data: PatientInput, now: datetime,
           policy: NotificationPolicy | None = None) -> tuple[PatientRow, bool]:
    organizations.require_same(organization, data.organization)
    org = organizations.get(db, scope=scope, code=organization)
    patient = Patient.create(
        external_id=external_id, organization_code=org.code, last_name=data.last_name,
        first_name=data.first_name, middle_name=data.middle_name, birth_date=data.birth_date,
        phone=data.phone, max_user_id=data.max_user_id, snils=data.snils, today=now.date())
    row = find(db, org.id, patient.external_id)
    created = row is None
    if row is None:
        row = PatientRow(external_id=patient.external_id, created_at=now, max_reachable=True)
        db.add(row)
    link_before = (row.max_user_id, row.max_reachable)
    _copy(patient, row, org)
    row.updated_at = now
    db.flush()
    if policy is not None and (row.max_user_id, row.max_reachable) != link_before:
        notifications.sync_patient(db, patient=row, policy=policy, now=now)
    audit.record(db, at=now, actor=scope.actor,
                 action="patient.created" if created else "patient.updated",
                 subject_type="patient", subject_id=external_id, organization_code=org.code)
    return row, created


def _copy(patient: Patient, row: PatientRow, org: OrganizationRow) -> None:
    row.organization_id = org.id
    row.last_name, row.first_name = patient.last_name, patient.first_name
    row.middle_name, row.birth_date = patient.middle_name, patient.birth_date
    row.search_name = name_key(patient.last_name, patient.first_name, patient.middle_name)
    row.phone = patient.phone
    row.snils = patient.snils  # PUT states the whole record: an omitted СНИЛС is cleared
    # An omitted MAX id keeps the link the bot may have made itself; a new one is reachable.
    if patient.max_user_id is not None and patient.max_user_id != row.max_user_id:
        row.max_user_id, row.max_reachable = patient.max_user_id, True
