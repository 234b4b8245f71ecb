"""The invitations' queries, in one place: notification rows, the appointments they announce
and the runner items that send them.

Nothing here decides or commits: ``service`` plans, the bot's steps send, and the request or
the step that called commits.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from medsign.db.integrity import get_existing
from medsign.db.models import (
    AppointmentRow,
    NotificationRow,
    OrganizationRow,
    PatientRow,
    WorkItemRow,
)


def find_notification(db: Session, notification_id: int) -> NotificationRow | None:
    return db.get(NotificationRow, notification_id)


def notification(db: Session, notification_id: int) -> NotificationRow:
    """The notification, which must exist (``db.integrity.IntegrityBroken`` otherwise)."""
    return get_existing(db, NotificationRow, notification_id)


def of_appointment(db: Session, appointment_id: int) -> list[NotificationRow]:
    """The appointment's notifications, newest (the live one) first."""
    return list(db.scalars(select(NotificationRow)
                           .where(NotificationRow.appointment_id == appointment_id)
                           .order_by(NotificationRow.id.desc())))


def scheduled_of(db: Session, appointment_id: int) -> NotificationRow | None:
    return db.scalars(select(NotificationRow).where(
        NotificationRow.appointment_id == appointment_id,
        NotificationRow.state == "scheduled")).first()


def invitation_sent(db: Session, appointment_id: int) -> bool:
    """Whether any message about this appointment reached the patient's chat."""
    return db.scalars(select(NotificationRow.id).where(
        NotificationRow.appointment_id == appointment_id,
        NotificationRow.message_mid.is_not(None))).first() is not None


def appointment(db: Session, appointment_id: int) -> AppointmentRow:
    return get_existing(db, AppointmentRow, appointment_id)


def parties(db: Session, appointment: AppointmentRow) -> tuple[OrganizationRow, PatientRow]:
    """The appointment's organisation and patient."""
    return (get_existing(db, OrganizationRow, appointment.organization_id),
            get_existing(db, PatientRow, appointment.patient_id))


def patient(db: Session, patient_id: int) -> PatientRow:
    return get_existing(db, PatientRow, patient_id)


def upcoming_appointments(db: Session, *, patient_id: int,
                          now: datetime) -> list[AppointmentRow]:
    """The patient's scheduled appointments that have not started."""
    return list(db.scalars(select(AppointmentRow).where(
        AppointmentRow.patient_id == patient_id, AppointmentRow.status == "scheduled",
        AppointmentRow.starts_at > now)))


def work_item(db: Session, *, kind: str, ref: str) -> WorkItemRow | None:
    """The newest runner item of ``kind`` for ``ref`` (a notification, a message)."""
    return db.scalars(select(WorkItemRow).where(WorkItemRow.kind == kind, WorkItemRow.ref == ref)
                      .order_by(WorkItemRow.id.desc())).first()


def move_timer(db: Session, *, item_id: int, at: datetime, now: datetime) -> None:
    """Run an idle item at ``at`` instead; one a worker holds right now is left alone."""
    db.execute(update(WorkItemRow).where(WorkItemRow.id == item_id,
                                         WorkItemRow.locked_until.is_(None))
               .values(next_run_at=at, updated_at=now))
