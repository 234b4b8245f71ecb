"""Rows change only through the domain: a legal move is written back, an illegal one raises
and leaves the row exactly as it was (plain row objects, no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from medsign.db.models import AppointmentRow, ConsentRow
from medsign.domain.appointments import Appointment
from medsign.domain.consents import Consent
from medsign.domain.errors import InvalidTransition
from medsign.records import mapping as records

T0 = datetime(2026, 3, 10, 7, 0, tzinfo=UTC)
LATER = T0 + timedelta(minutes=5)


def consent(state: str = "pending", method: str = "electronic") -> ConsentRow:
    return ConsentRow(appointment_id=1, kind="medical_intervention", signing_method=method,
                      state=state, updated_at=T0)


def appointment(status: str = "scheduled") -> AppointmentRow:
    return AppointmentRow(external_id="a1", organization_id=1, patient_id=1,
                          starts_at=T0 + timedelta(days=1), timezone="Europe/Moscow",
                          doctor_name="Петрова А. С.", service_name="Приём", status=status,
                          reschedule_count=0, created_at=T0, updated_at=T0)


def _snapshot(row: ConsentRow) -> tuple[str, str, datetime]:
    return row.state, row.signing_method, row.updated_at


@pytest.mark.parametrize(("state", "move", "expected"), [
    ("pending", Consent.start_signing, ("in_signing", "electronic")),
    ("in_signing", Consent.mark_signed, ("signed", "electronic")),
    ("in_signing", Consent.abort_signing, ("pending", "electronic")),
    ("in_signing", Consent.mark_declined, ("declined", "electronic")),
    ("pending", Consent.choose_paper, ("pending", "paper")),
])
def test_a_legal_move_is_written_back(state: str, move: object,
                                      expected: tuple[str, str]) -> None:
    row = consent(state)
    records.change_consent(row, move, now=LATER)  # type: ignore[arg-type]
    assert (row.state, row.signing_method, row.updated_at) == (*expected, LATER)


@pytest.mark.parametrize(("state", "method", "move"), [
    ("signed", "electronic", Consent.start_signing),  # signed twice
    ("pending", "electronic", Consent.mark_signed),  # signed without signing
    ("pending", "paper", Consent.start_signing),  # paper never goes online
    ("cancelled", "electronic", Consent.choose_paper),
    ("signed", "electronic", Consent.cancel),
])
def test_an_illegal_move_raises_and_changes_nothing(state: str, method: str,
                                                    move: object) -> None:
    row = consent(state, method)
    before = _snapshot(row)
    with pytest.raises(InvalidTransition):
        records.change_consent(row, move, now=LATER)  # type: ignore[arg-type]
    assert _snapshot(row) == before


def test_cancelling_an_appointment_cancels_its_open_consents_only() -> None:
    row, consents = appointment(), [consent("pending"), consent("signed")]
    consents[1].kind = "personal_data"
    current = records.appointment_of(row, consents, organization_code="mo1",
                                     patient_external_id="p1")
    current.cancel()
    records.write_appointment(row, current, consents, now=LATER)
    assert row.status == "cancelled" and [c.state for c in consents] == ["cancelled", "signed"]
    assert (consents[0].updated_at, consents[1].updated_at) == (LATER, T0)


def test_the_reschedule_count_is_the_domains() -> None:
    row = appointment()
    current = records.appointment_of(row, [], organization_code="mo1", patient_external_id="p1")
    assert current.reschedule(row.starts_at + timedelta(hours=1))
    assert not current.reschedule(current.starts_at.astimezone(UTC))  # same instant
    records.write_appointment(row, current, [], now=LATER)
    assert (row.reschedule_count, row.starts_at) == (1, T0 + timedelta(days=1, hours=1))
    cancelled = appointment("cancelled")
    with pytest.raises(InvalidTransition):
        records.appointment_of(cancelled, [], organization_code="mo1",
                               patient_external_id="p1").reschedule(T0)
    assert isinstance(current, Appointment)
