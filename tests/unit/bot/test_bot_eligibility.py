"""``notifications.eligible``: who gets the day-before invitation, and why not."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from medsign.db.models import AppointmentRow, OrganizationRow, PatientRow
from medsign.domain.consents import ConsentKind
from medsign.notifications.service import Context, eligible

START = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def context(*, status: str = "scheduled", kinds: list[ConsentKind] | None = None,
            user_id: int | None = 70_000_001, reachable: bool = True) -> Context:
    return Context(
        appointment=AppointmentRow(status=status, starts_at=START),
        organization=OrganizationRow(timezone="Europe/Moscow"),
        patient=PatientRow(max_user_id=user_id, max_reachable=reachable),
        kinds=[ConsentKind.medical_intervention] if kinds is None else kinds)


def test_a_scheduled_visit_with_an_electronic_consent_and_a_linked_patient() -> None:
    assert eligible(context()) is None


def test_several_documents_are_fine() -> None:
    assert eligible(context(kinds=list(ConsentKind))) is None


@pytest.mark.parametrize("status", ["cancelled", "completed", "no_show", ""])
def test_only_scheduled_visits(status: str) -> None:
    assert eligible(context(status=status)) == "запись отменена"


def test_nothing_to_sign_electronically() -> None:
    assert eligible(context(kinds=[])) == "нет документов для электронного подписания"


def test_an_unlinked_patient() -> None:
    assert eligible(context(user_id=None)) == "аккаунт MAX пациента не привязан"


def test_a_patient_who_stopped_the_bot() -> None:
    assert eligible(context(reachable=False)) == "пациент остановил бота MAX"


def test_the_first_reason_wins() -> None:
    everything_wrong = context(status="cancelled", kinds=[], user_id=None, reachable=False)
    assert eligible(everything_wrong) == "запись отменена"
    assert eligible(context(kinds=[], user_id=None)) == \
        "нет документов для электронного подписания"
    assert eligible(context(user_id=None, reachable=False)) == \
        "аккаунт MAX пациента не привязан"
