"""Rows ↔ domain objects for consents and appointments: every change goes through the domain.

A service (or a flow step) never writes ``consent.state`` or ``appointment.status`` itself: it
loads the row into ``domain.consents.Consent`` / ``domain.appointments.Appointment``, calls the
method that names the move (``start_signing``, ``choose_paper``, ``reschedule``, ``cancel``…),
and writes the result back. An illegal move raises ``InvalidTransition`` instead of being
stored.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from medsign.db.models import AppointmentRow, ConsentRow
from medsign.domain.appointments import Appointment, AppointmentStatus
from medsign.domain.consents import Consent, ConsentKind, ConsentState, SigningMethod


def consent_of(row: ConsentRow) -> Consent:
    return Consent(ConsentKind(row.kind), SigningMethod(row.signing_method),
                   ConsentState(row.state))


def write_consent(row: ConsentRow, consent: Consent, *, now: datetime) -> None:
    """Store what the domain decided; ``updated_at`` moves only when something changed."""
    if (row.state, row.signing_method) != (consent.state.value, consent.signing_method.value):
        row.state, row.signing_method = consent.state.value, consent.signing_method.value
        row.updated_at = now


def change_consent(row: ConsentRow, move: Callable[[Consent], None], *, now: datetime) -> None:
    """Apply one domain move (e.g. ``Consent.mark_signed``) to a stored consent."""
    consent = consent_of(row)
    move(consent)
    write_consent(row, consent, now=now)


def appointment_of(row: AppointmentRow, consents: Sequence[ConsentRow], *,
                   organization_code: str, patient_external_id: str) -> Appointment:
    return Appointment(
        external_id=row.external_id, organization_code=organization_code,
        patient_external_id=patient_external_id, starts_at=row.starts_at,
        doctor_name=row.doctor_name, service_name=row.service_name,
        status=AppointmentStatus(row.status), consents=[consent_of(c) for c in consents],
        reschedule_count=row.reschedule_count)


def write_appointment(row: AppointmentRow, appointment: Appointment,
                      consents: Sequence[ConsentRow], *, now: datetime) -> None:
    """Store the appointment's state and its consents' (``consents`` in the order they were
    loaded by ``appointment_of``)."""
    row.status, row.starts_at = appointment.status.value, appointment.starts_at
    row.reschedule_count = appointment.reschedule_count
    for stored, consent in zip(consents, appointment.consents, strict=True):
        write_consent(stored, consent, now=now)
    row.updated_at = now
