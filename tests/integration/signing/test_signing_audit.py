"""Every move of a signing request is audited under its own action, by whoever made it: the
system's steps as ``system:signing``, a retry as ``signing.retried`` by the caller that
retried (never as the state it resumes), each kind of cancel as its own action."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from medsign.db.models import AuditRow, SigningEventRow
from tests import factories as f
from tests.integration.signing.stand import SigningStand

POLL = timedelta(seconds=11)


def audited(stand: SigningStand, rid: str) -> list[tuple[str, str, str | None]]:
    with Session(stand.container.engine) as db:
        return [(a.action, a.actor, (a.details or {}).get("reason"))
                for a in db.scalars(select(AuditRow).where(AuditRow.subject_id == rid)
                                    .order_by(AuditRow.id))]


def history_actions(stand: SigningStand, rid: str) -> list[str]:
    with Session(stand.container.engine) as db:
        return [str((e.details or {}).get("action")) for e in db.scalars(
            select(SigningEventRow).where(SigningEventRow.signing_request_id == rid)
            .order_by(SigningEventRow.id))]


def signed_by_patient(stand: SigningStand) -> str:
    rid = stand.start_signing()
    stand.run_worker()
    tx = stand.request(rid)["transaction_id"]
    stand.control("POST", f"/transactions/{tx}/sign")
    return rid


def test_each_step_of_the_system_has_its_own_action(stand: SigningStand) -> None:
    rid = signed_by_patient(stand)
    stand.advance(POLL)
    stand.run_worker()
    actions = [(action, actor) for action, actor, _ in audited(stand, rid)]
    api_actor = actions[0][1]
    assert api_actor.startswith("api:")
    assert actions == [("signing.new", api_actor)] + [
        (f"signing.{step}", "system:signing") for step in (
            "sent", "patient_signed", "archive_verified", "countersigned", "uploaded",
            "completed")]
    assert history_actions(stand, rid) == [a for a, _ in actions]


def test_a_retry_from_patient_signed_is_audited_as_the_callers_retry(
        stand: SigningStand) -> None:
    stand.control("POST", "/faults", {"method": "download", "bad_operator_signature": True})
    rid = signed_by_patient(stand)
    stand.advance(POLL)
    stand.run_worker()
    assert stand.request(rid)["state"] == "failed"
    stand.control("DELETE", "/faults")
    r = stand.api.post(f"/api/v1/signing-requests/{rid}/retry",
                       json={"reason": "сертификат оператора обновлён"})
    assert r.status_code == 200, r.text
    entries = audited(stand, rid)
    failed, retried = entries[-2:]
    assert failed[0] == "signing.failed" and failed[1] == "system:signing"
    assert retried[0] == "signing.retried" and retried[1].startswith("api:")
    assert retried[2] == "сертификат оператора обновлён"
    # the patient signed once: a retry is not audited as their signing again
    assert [a for a, _, _ in entries].count("signing.patient_signed") == 1
    stand.run_worker()
    assert stand.request(rid)["state"] == "completed"


def test_a_refusal_in_goskey_is_the_patients(stand: SigningStand) -> None:
    rid = stand.start_signing()
    stand.run_worker()
    stand.control("POST", f"/transactions/{stand.request(rid)['transaction_id']}/refuse")
    stand.advance(POLL)
    stand.run_worker()
    action, actor, reason = audited(stand, rid)[-1]
    assert (action, actor) == ("signing.refused", "system:signing")
    assert reason is not None and "отказался" in reason


def test_a_cancel_through_the_api_is_the_clinics(stand: SigningStand) -> None:
    rid = stand.start_signing()
    r = stand.api.post(f"/api/v1/signing-requests/{rid}/cancel",
                       json={"reason": "ошибка в записи"})
    assert r.status_code == 200, r.text
    action, actor, reason = audited(stand, rid)[-1]
    assert action == "signing.cancelled_by_clinic" and actor.startswith("api:")
    assert reason == "ошибка в записи"


def test_an_appointments_cancellation_stops_its_signing_under_its_own_action(
        stand: SigningStand) -> None:
    rid = stand.start_signing()
    stand.run_worker()
    stand.api.put("/api/v1/organizations/mo1/appointments/a1",
                  json=f.appointment(status="cancelled"))
    assert audited(stand, rid)[-1][0] == "signing.appointment_cancelled"


def test_expiry_and_platform_errors_are_their_own_actions(stand: SigningStand) -> None:
    expired = stand.start_signing()
    stand.run_worker()
    stand.control("POST", f"/transactions/{stand.request(expired)['transaction_id']}/expire")
    stand.advance(POLL)
    stand.run_worker()
    assert stand.request(expired)["state"] == "expired"
    assert audited(stand, expired)[-1][0] == "signing.expired"
    broken = stand.start_signing()
    stand.run_worker()
    stand.control("POST", f"/transactions/{stand.request(broken)['transaction_id']}/error")
    stand.advance(POLL)
    stand.run_worker()
    assert audited(stand, broken)[-1][0] == "signing.platform_error"
