"""What each move of a signing request *means*: its audit action, its words in the history,
and what (if anything) it owes the patient — decided by the domain, not re-derived later."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from medsign.domain.consents import ConsentKind
from medsign.domain.signing import (
    CancelledBy,
    PatientNotice,
    SigningAction,
    SigningEvent,
    SigningRequest,
    action_title,
    patient_notice,
)
from medsign.domain.signing import SigningState as S
from medsign.domain.signing_actions import ACTION_TITLES


def request(state: S = S.sent, failed_from: S | None = None) -> SigningRequest:
    reached = failed_from or state
    return SigningRequest(
        id="sr-1", appointment_external_id="a-1", organization_code="mo-1",
        consent_kinds=[ConsentKind.medical_intervention], phone="+79990000001",
        initiated_by="doctor", state=state, failed_from=failed_from,
        transaction_id=None if reached is S.new else "tx-1",
        zip_file_id="zip-1" if reached in (S.patient_signed, S.archive_verified,
                                           S.countersigned, S.uploaded) else None)


def only_event(r: SigningRequest) -> SigningEvent:
    [event] = r.drain_events()
    return event


@pytest.mark.parametrize(("by", "action"), [
    (CancelledBy.patient, SigningAction.refused),
    (CancelledBy.operator, SigningAction.cancelled_by_operator),
    (CancelledBy.clinic, SigningAction.cancelled_by_clinic),
    (CancelledBy.appointment, SigningAction.appointment_cancelled),
])
def test_each_kind_of_cancel_is_its_own_action(by: CancelledBy, action: SigningAction) -> None:
    r = request()
    r.cancel("документы переоформляются", by=by)
    event = only_event(r)
    assert (event.to_state, event.action, event.reason) == (
        S.cancelled, action.value, "документы переоформляются")


def test_a_retry_from_patient_signed_is_a_retry_not_the_patient_signing_again() -> None:
    r = request(S.failed, failed_from=S.patient_signed)
    r.retry("платформа снова доступна")
    event = only_event(r)
    assert (event.from_state, event.to_state) == (S.failed, S.patient_signed)
    assert event.action == "signing.retried" and event.title == "повтор"
    assert event.reason == "платформа снова доступна"


STEPS: list[tuple[S, Callable[[SigningRequest], None], str]] = [
    (S.new, lambda r: r.mark_sent("tx-1"), "signing.sent"),
    (S.sent, lambda r: r.mark_patient_signed("zip-1"), "signing.patient_signed"),
    (S.patient_signed, lambda r: r.mark_archive_verified(), "signing.archive_verified"),
    (S.archive_verified, lambda r: r.mark_countersigned(), "signing.countersigned"),
    (S.countersigned, lambda r: r.mark_uploaded(["f-1"]), "signing.uploaded"),
    (S.uploaded, lambda r: r.mark_completed("f-2"), "signing.completed"),
    (S.sent, lambda r: r.expire(), "signing.expired"),
    (S.sent, lambda r: r.expire(on_platform=True), "signing.expired"),
    (S.sent, lambda r: r.mark_platform_error("boom"), "signing.platform_error"),
    (S.uploaded, lambda r: r.fail("goskey_500"), "signing.failed"),
]


@pytest.mark.parametrize(("start", "move", "action"), STEPS, ids=[s[2] for s in STEPS])
def test_each_system_step_has_its_own_action(start: S, move: Callable[[SigningRequest], None],
                                              action: str) -> None:
    r = request(start)
    move(r)
    assert only_event(r).action == action


def test_every_action_reads_in_russian_words() -> None:
    assert set(ACTION_TITLES) == set(SigningAction)
    assert SigningAction.refused.title == "пациент отказался"
    assert SigningAction.cancelled_by_operator.title == "отменено оператором"
    assert all(t and not t.isascii() for t in ACTION_TITLES.values())


def test_an_unknown_action_reads_as_the_state_it_led_to() -> None:
    # a newer version's state (say, a signer mismatch) or a row written before actions
    assert action_title("signing.something_new", "expired") == "срок подписания истёк"
    assert action_title("", "sent") == "ожидает подписи пациента"
    assert action_title("signing.something_new", "no_such_state") == "signing.something_new"


@pytest.mark.parametrize(("event", "notice"), [
    (SigningEvent(S.new, S.sent), PatientNotice.documents_sent),
    (SigningEvent(S.uploaded, S.completed), PatientNotice.signed),
    (SigningEvent(S.sent, S.cancelled, action="signing.refused"), PatientNotice.refused),
    (SigningEvent(S.sent, S.cancelled, action="signing.cancelled_by_operator"),
     PatientNotice.cancelled_by_clinic),
    (SigningEvent(S.sent, S.cancelled, action="signing.cancelled_by_clinic"),
     PatientNotice.cancelled_by_clinic),
    (SigningEvent(S.sent, S.cancelled, action="signing.appointment_cancelled"),
     PatientNotice.appointment_cancelled),
    (SigningEvent(S.sent, S.expired, action="signing.expired"), PatientNotice.expired),
    (SigningEvent(S.sent, S.platform_error, action="signing.platform_error"),
     PatientNotice.platform_error),
    (SigningEvent(S.sent, S.failed, action="signing.failed"), PatientNotice.technical_failure),
    # a stop this version does not name: a generic notice that reveals nothing
    (SigningEvent(S.sent, S.cancelled, action="signing.cancelled_somehow"),
     PatientNotice.stopped),
])
def test_the_patient_notice_follows_the_kind_of_event(event: SigningEvent,
                                                      notice: PatientNotice) -> None:
    assert patient_notice(event) is notice


@pytest.mark.parametrize("event", [
    SigningEvent(S.sent, S.patient_signed),
    SigningEvent(S.patient_signed, S.archive_verified),
    SigningEvent(S.countersigned, S.uploaded),
    SigningEvent(S.failed, S.sent, action="signing.retried"),
])
def test_intermediate_steps_and_retries_tell_the_patient_nothing(event: SigningEvent) -> None:
    assert patient_notice(event) is None


def test_only_a_failures_reason_is_labelled_an_error() -> None:
    assert S.failed.reason_label == "Причина ошибки"
    assert S.cancelled.reason_label == "Причина отмены"
    assert S.expired.reason_label == "Причина"


def test_the_patient_reads_every_state_in_plain_words() -> None:
    for state in S:
        assert state.patient_title and "МО" not in state.patient_title.split()
