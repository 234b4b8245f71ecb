"""The patient's «Мои документы»: each patient of the account with the documents of their
appointments, drawn as the doctor's cards."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from medsign.accounts import portal
from medsign.db.models import AppointmentRow
from medsign.records.patients import full_name
from medsign.web.doctor import queries as doctor


@dataclass(frozen=True)
class PatientDocuments:
    organization_code: str
    organization_name: str
    patient_name: str
    patient_id: str
    max_link: str
    max_link_title: str
    cards: list[doctor.Card]


def documents(db: Session, *, account_id: int, now: datetime,
              history: timedelta = timedelta(days=180)) -> list[PatientDocuments]:
    """Each of the account's patients with appointments from ``history`` ago onwards."""
    found = []
    for patient, org in portal.patients_of(db, account_id):
        appts = db.scalars(select(AppointmentRow).where(
            AppointmentRow.patient_id == patient.id, AppointmentRow.starts_at >= now - history)
            .order_by(AppointmentRow.starts_at.desc()).limit(50))
        link, link_title = doctor.max_link(patient)
        found.append(PatientDocuments(
            org.code, org.name, full_name(patient), patient.external_id, link,
            link_title,
            doctor.cards(db, [(a, patient) for a in appts], ZoneInfo(org.timezone),
                             org.code)))
    return found
