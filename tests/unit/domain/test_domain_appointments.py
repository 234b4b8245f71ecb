"""Appointments: aware start times, rescheduling, cancellation, need for online signing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from medsign.domain.appointments import Appointment, AppointmentStatus
from medsign.domain.consents import Consent, ConsentKind, ConsentState, SigningMethod
from medsign.domain.errors import DomainError, InvalidTransition

MSK = timezone(timedelta(hours=3))
START = datetime(2025, 6, 2, 10, 0, tzinfo=MSK)


def appointment(*consents: Consent, **overrides: Any) -> Appointment:
    fields: dict[str, Any] = {
        "external_id": "a-1",
        "organization_code": "mo-1",
        "patient_external_id": "p-1",
        "starts_at": START,
        "doctor_name": "Петров П. П.",
        "service_name": "Приём терапевта",
        "consents": list(consents),
    }
    return Appointment(**{**fields, **overrides})


def electronic(kind: ConsentKind = ConsentKind.medical_intervention) -> Consent:
    return Consent(kind, SigningMethod.electronic)


def test_a_new_appointment_is_scheduled_and_never_rescheduled() -> None:
    a = appointment()
    assert (a.status, a.reschedule_count) == (AppointmentStatus.scheduled, 0)


def test_an_appointment_time_without_a_time_zone_is_refused() -> None:
    with pytest.raises(DomainError) as caught:
        appointment(starts_at=datetime(2025, 6, 2, 10, 0))
    assert (caught.value.code, caught.value.field) == ("naive_datetime", "starts_at")


def test_one_appointment_cannot_carry_the_same_document_twice() -> None:
    with pytest.raises(DomainError, match="больше одного раза"):
        appointment(electronic(), electronic())


def test_rescheduling_to_another_time_counts_and_reports_a_change() -> None:
    a = appointment()
    assert a.reschedule(START + timedelta(hours=2)) is True
    assert (a.starts_at, a.reschedule_count) == (START + timedelta(hours=2), 1)


def test_rescheduling_to_the_same_instant_in_another_zone_is_not_a_change() -> None:
    a = appointment()
    assert a.reschedule(START.astimezone(UTC)) is False
    assert a.reschedule_count == 0


def test_rescheduling_needs_an_aware_time() -> None:
    with pytest.raises(DomainError, match="без часового пояса"):
        appointment().reschedule(datetime(2025, 6, 2, 12, 0))


def test_a_cancelled_appointment_cannot_be_rescheduled_or_cancelled_again() -> None:
    a = appointment()
    a.cancel()
    with pytest.raises(InvalidTransition):
        a.reschedule(START + timedelta(days=1))
    with pytest.raises(InvalidTransition):
        a.cancel()


def test_cancelling_an_appointment_cancels_its_open_consents_only() -> None:
    signed = Consent(ConsentKind.personal_data, SigningMethod.electronic, ConsentState.signed)
    waiting = electronic()
    a = appointment(signed, waiting)
    a.cancel()
    assert (a.status, signed.state, waiting.state) == (
        AppointmentStatus.cancelled,
        ConsentState.signed,
        ConsentState.cancelled,
    )


def test_an_appointment_needs_online_signing_with_a_pending_electronic_consent() -> None:
    assert appointment(electronic()).needs_online_signing


@pytest.mark.parametrize(
    "consent",
    [
        Consent(ConsentKind.medical_intervention, SigningMethod.paper),
        Consent(ConsentKind.medical_intervention, SigningMethod.electronic, ConsentState.signed),
    ],
)
def test_paper_or_settled_consents_need_no_online_signing(consent: Consent) -> None:
    assert not appointment(consent).needs_online_signing
    assert not appointment().needs_online_signing


def test_a_cancelled_appointment_needs_no_online_signing() -> None:
    a = appointment(electronic())
    a.cancel()
    assert not a.needs_online_signing


def test_the_consent_of_a_kind_is_found_or_reported_missing() -> None:
    ids = electronic()
    a = appointment(ids)
    assert a.consent_for(ConsentKind.medical_intervention) is ids
    with pytest.raises(DomainError) as caught:
        a.consent_for(ConsentKind.personal_data)
    assert caught.value.code == "consent_not_found"
