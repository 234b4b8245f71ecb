"""Looking up an appointment with its organisation, patient and consents."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from medsign.db.integrity import get_existing
from medsign.db.models import AppointmentRow, ConsentRow, OrganizationRow, PatientRow
from medsign.errors import NotFound
from medsign.records import organizations
from medsign.records.scope import Scope


def find(db: Session, organization_id: int, external_id: str, *,
         lock: bool = False) -> AppointmentRow | None:
    """The appointment; with ``lock`` re-read under ``FOR UPDATE`` (PostgreSQL; SQLite has
    one writer at a time anyway) — the caller may have loaded it before."""
    query = select(AppointmentRow).where(AppointmentRow.organization_id == organization_id,
                                         AppointmentRow.external_id == external_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return db.scalars(query).first()


def locate(db: Session, *, scope: Scope, organization: str, external_id: str,
           lock: bool = False) -> tuple[AppointmentRow, OrganizationRow, PatientRow]:
    """The appointment (locked when ``lock``), its organisation and patient; an organisation
    outside the scope is "not found" whatever ids it holds."""
    org = organizations.get(db, scope=scope, code=organization)
    row = find(db, org.id, external_id, lock=lock)
    if row is None:
        raise NotFound("appointment_not_found", f"Запись на приём «{external_id}» не найдена.")
    return row, org, get_existing(db, PatientRow, row.patient_id)


def get(db: Session, *, scope: Scope, organization: str,
        external_id: str) -> tuple[AppointmentRow, OrganizationRow, PatientRow, list[ConsentRow]]:
    """The appointment with its organisation, patient and consents."""
    row, org, patient = locate(db, scope=scope, organization=organization,
                               external_id=external_id)
    return row, org, patient, consents_of(db, row)


def consents_of(db: Session, row: AppointmentRow) -> list[ConsentRow]:
    return list(db.scalars(select(ConsentRow).where(ConsentRow.appointment_id == row.id)
                           .order_by(ConsentRow.kind)))
