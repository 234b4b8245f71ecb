"""Appointments and their consents: idempotent upsert by the МИС's id.

A resend of the same data changes nothing. A new start time counts as a reschedule; the
status ``cancelled`` cancels the open consents and stops any signing in progress.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from medsign.db.models import AppointmentRow, ConsentRow, OrganizationRow, PatientRow
from medsign.domain.appointments import Appointment, AppointmentStatus
from medsign.domain.consents import Consent, ConsentKind, ConsentState, SigningMethod
from medsign.domain.errors import InvalidTransition
from medsign.errors import Conflict
from medsign.notifications import service as notifications
from medsign.notifications.service import NotificationPolicy
from medsign.records import audit, organizations, patients
from medsign.records import mapping as records
from medsign.records.appointments import consents_of, find
from medsign.records.scope import Scope
from medsign.signing import service as signing


@dataclass(frozen=True)
class ConsentInput:
    kind: str
    signing_method: str


@dataclass(frozen=True)
class AppointmentInput:
    """``organization`` repeats the appointment's own (the API's path) and may be omitted;
    ``patient`` is the МИС's id of a patient of that same organisation."""

    organization: str | None
    patient: str
    starts_at: datetime
    doctor_name: str
    service_name: str
    status: str
    consents: Sequence[ConsentInput]
    doctor_external_id: str | None = None  # the МИС's id of the doctor («Мои пациенты»)


def upsert(db: Session, *, scope: Scope, organization: str, external_id: str,
           data: AppointmentInput, now: datetime,
           policy: NotificationPolicy | None) -> tuple[AppointmentRow, bool]:
    """Create or update; then bring its day-before notification in line (when MAX is on)."""
    organizations.require_same(organization, data.organization)
    row, created = _upsert(db, scope=scope, organization=organization,
                           external_id=external_id, data=data, now=now)
    if policy is not None:
        notifications.sync(db, appointment=row, policy=policy, now=now)
    return row, created


def _upsert(db: Session, *, scope: Scope, organization: str, external_id: str,
            data: AppointmentInput, now: datetime) -> tuple[AppointmentRow, bool]:
    patient, org = patients.get(db, scope=scope, organization=organization,
                                external_id=data.patient)
    wanted = Appointment(
        external_id=external_id, organization_code=org.code, patient_external_id=data.patient,
        starts_at=data.starts_at, doctor_name=data.doctor_name.strip(),
        service_name=data.service_name.strip(), status=AppointmentStatus(data.status),
        consents=[Consent(ConsentKind(c.kind), SigningMethod(c.signing_method))
                  for c in data.consents])
    row = find(db, org.id, wanted.external_id)
    if row is None:
        row = _create(db, scope, org, patient, wanted, now)
        row.doctor_external_id = data.doctor_external_id
        return row, True
    if row.patient_id != patient.id:
        raise Conflict("appointment_identity_change",
                       "Нельзя сменить пациента у существующей записи на приём.")
    row.doctor_external_id = data.doctor_external_id
    _update(db, scope, org, row, wanted, now)
    return row, False


def _create(db: Session, scope: Scope, org: OrganizationRow, patient: PatientRow,
            wanted: Appointment, now: datetime) -> AppointmentRow:
    row = AppointmentRow(
        external_id=wanted.external_id, organization_id=org.id, patient_id=patient.id,
        starts_at=wanted.starts_at, timezone=org.timezone, doctor_name=wanted.doctor_name,
        service_name=wanted.service_name, status=wanted.status.value, reschedule_count=0,
        created_at=now, updated_at=now)
    db.add(row)
    db.flush()
    for consent in wanted.consents:
        state = (ConsentState.cancelled if wanted.is_cancelled else ConsentState.pending)
        db.add(ConsentRow(appointment_id=row.id, kind=consent.kind.value,
                          signing_method=consent.signing_method.value, state=state.value,
                          updated_at=now))
    _audit(db, scope, row, org, "appointment.created", now)
    return row


def _update(db: Session, scope: Scope, org: OrganizationRow, row: AppointmentRow,
            wanted: Appointment, now: datetime) -> None:
    if row.status == AppointmentStatus.cancelled and not wanted.is_cancelled:
        raise Conflict("appointment_cancelled",
                       "Запись на приём отменена; для нового приёма создайте новую запись.")
    changes: dict[str, object] = {}
    if wanted.starts_at != row.starts_at:
        changes["starts_at"] = {"from": row.starts_at.isoformat(),
                                "to": wanted.starts_at.isoformat()}
        _change(db, org, row, wanted, lambda a: a.reschedule(wanted.starts_at), now)
    row.doctor_name, row.service_name = wanted.doctor_name, wanted.service_name
    _merge_consents(db, row, wanted.consents, now)
    if wanted.is_cancelled and row.status != AppointmentStatus.cancelled:
        _cancel(db, scope, org, row, wanted, now)
        changes["status"] = "cancelled"
    row.updated_at = now
    _audit(db, scope, row, org, "appointment.updated", now, changes)


def _merge_consents(db: Session, row: AppointmentRow, wanted: Sequence[Consent],
                    now: datetime) -> None:
    """Apply the МИС's consent list. Consents already in signing or signed are locked."""
    current = {c.kind: c for c in consents_of(db, row)}
    wanted_by_kind = {c.kind.value: c for c in wanted}
    for kind, stored in current.items():
        target = wanted_by_kind.get(kind)
        if target is not None and target.signing_method.value == stored.signing_method:
            continue
        _require_pending(stored)
        if target is None:
            db.delete(stored)
        else:
            stored.signing_method, stored.updated_at = target.signing_method.value, now
    for kind, consent in wanted_by_kind.items():
        if kind not in current:
            db.add(ConsentRow(appointment_id=row.id, kind=kind,
                              signing_method=consent.signing_method.value,
                              state=ConsentState.pending.value, updated_at=now))


def _require_pending(stored: ConsentRow) -> None:
    if stored.state != ConsentState.pending:
        raise Conflict("consent_locked",
                       f"Документ «{ConsentKind(stored.kind).title}» уже "
                       f"«{ConsentState(stored.state).title}»: его нельзя изменить или удалить.")


def _cancel(db: Session, scope: Scope, org: OrganizationRow, row: AppointmentRow,
            wanted: Appointment, now: datetime) -> None:
    """Stop its signing first (the requests end ``cancelled``), then cancel the visit and
    every consent still open."""
    signing.cancel_for_appointment(db, appt=row, org_code=org.code, actor=scope.actor,
                                   reason="Запись на приём отменена клиникой.", now=now)
    _change(db, org, row, wanted, Appointment.cancel, now)


def _change(db: Session, org: OrganizationRow, row: AppointmentRow, wanted: Appointment,
            move: Callable[[Appointment], object], now: datetime) -> None:
    """Apply one domain move to the stored appointment and its consents."""
    consents = consents_of(db, row)
    current = records.appointment_of(row, consents, organization_code=org.code,
                                     patient_external_id=wanted.patient_external_id)
    try:
        move(current)
    except InvalidTransition:
        raise Conflict("appointment_cancelled",
                       "Запись на приём отменена; её нельзя изменить.") from None
    records.write_appointment(row, current, consents, now=now)


def _audit(db: Session, scope: Scope, row: AppointmentRow, org: OrganizationRow, action: str,
           now: datetime, details: dict[str, object] | None = None) -> None:
    audit.record(db, at=now, actor=scope.actor, action=action, subject_type="appointment",
                 subject_id=row.external_id, organization_code=org.code, details=details)
