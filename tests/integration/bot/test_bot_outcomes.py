"""Flow C told to the patient in MAX: that the documents are in Госключ once the platform has
accepted them, then one final message per signing, chosen by how it ended — never the
reason staff typed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from medsign.db.models import AuditRow
from medsign.domain import bot
from medsign.domain.consents import ConsentKind
from medsign.domain.signing import PatientNotice
from tests.integration.bot.conftest import VISIT, Invited, invite
from tests.integration.bot.stand import BotStand

KINDS = [ConsentKind.medical_intervention, ConsentKind.personal_data]
POLL = timedelta(seconds=11)


def signing_started(stand: BotStand) -> tuple[Invited, str, str]:
    invited = invite(stand)
    stand.press(invited.user_id, invited.mid, invited.sign)
    stand.work()
    [request] = stand.signing_requests()
    [transaction] = stand.transactions()
    return invited, request["id"], transaction["id"]


def told(stand: BotStand, user_id: int) -> list[str]:
    """Bot messages after the invitation (the invitation itself is edited, not repeated),
    without the signed documents' copies (``test_bot_copies``)."""
    row = stand.notification()
    assert row is not None
    return [m["text"] for m in stand.bot_messages(user_id)
            if m["mid"] != row.message_mid and not m["text"].startswith("Аккаунт MAX")
            and not m.get("files")]


def finals(stand: BotStand, user_id: int) -> list[str]:
    """What was told after the documents reached Госключ (said once, before anything else)."""
    texts = told(stand, user_id)
    assert texts[:1] == [bot.documents_sent(KINDS)], texts
    return texts[1:]


def outcome(notice: PatientNotice) -> str:
    return bot.outcome(notice, kinds=KINDS)


def settle(stand: BotStand, *, rounds: int = 6) -> None:
    for _ in range(rounds):
        stand.advance(POLL)
        stand.work()


def state_of(stand: BotStand, rid: str) -> dict[str, Any]:
    r = stand.api.get(f"/api/v1/signing-requests/{rid}")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_completed_signing_ends_with_documents_signed(any_stand: BotStand) -> None:
    stand = any_stand
    invited, rid, tx = signing_started(stand)
    stand.goskey("POST", f"/transactions/{tx}/sign")
    settle(stand)
    assert state_of(stand, rid)["state"] == "completed"
    assert finals(stand, invited.user_id) == [outcome(PatientNotice.signed)]
    assert "документы подписаны" in finals(stand, invited.user_id)[0]
    assert stand.consents()["medical_intervention"] == ("electronic", "signed")
    settle(stand)  # nothing more is said
    assert len(finals(stand, invited.user_id)) == 1


def test_the_documents_are_said_to_be_in_goskey_only_once_the_platform_has_them(
        stand: BotStand) -> None:
    invited = invite(stand)
    stand.goskey("POST", "/faults", {"method": "send", "error_5xx_rate": 1.0})
    stand.press(invited.user_id, invited.mid, invited.sign)
    stand.work()
    assert stand.toasts(invited.user_id) == [bot.SIGNING_STARTED_TOAST]
    assert "отправлены" not in bot.SIGNING_STARTED_TOAST
    assert stand.transactions() == [] and told(stand, invited.user_id) == []
    stand.goskey("DELETE", "/faults")
    settle(stand, rounds=3)  # the send is retried and accepted
    [transaction] = stand.transactions()
    assert told(stand, invited.user_id) == [bot.documents_sent(KINDS)]
    [sent] = [m for m in stand.bot_messages(invited.user_id)
              if m["text"] == bot.documents_sent(KINDS)]
    assert sent["keyboard"][0][0]["type"] == "link"  # the way to Госключ comes with it
    settle(stand)
    assert told(stand, invited.user_id) == [bot.documents_sent(KINDS)]  # said once
    assert transaction["id"]


def test_refused_signing_ends_with_the_refusal_in_plain_words(stand: BotStand) -> None:
    invited, rid, tx = signing_started(stand)
    stand.goskey("POST", f"/transactions/{tx}/refuse")
    settle(stand)
    detail = state_of(stand, rid)
    assert detail["state"] == "cancelled"
    assert [e["action"] for e in audit_of(stand, rid)][-1] == "signing.refused"
    assert finals(stand, invited.user_id) == [outcome(PatientNotice.refused)]


def test_expired_on_the_platform_ends_with_expired(stand: BotStand) -> None:
    invited, rid, tx = signing_started(stand)
    stand.goskey("POST", f"/transactions/{tx}/expire")
    settle(stand)
    detail = state_of(stand, rid)
    assert detail["state"] == "expired" and "на платформе" in detail["reason"]
    assert finals(stand, invited.user_id) == [outcome(PatientNotice.expired)]
    assert stand.consents()["medical_intervention"] == ("electronic", "pending")


def test_not_signed_by_the_visit_ends_with_expired(stand: BotStand) -> None:
    invited, rid, _ = signing_started(stand)
    stand.set_time(VISIT + timedelta(hours=2))  # the visit plus signing.expiry_grace
    settle(stand, rounds=2)
    assert state_of(stand, rid)["state"] == "expired"
    assert finals(stand, invited.user_id) == [outcome(PatientNotice.expired)]


def test_a_platform_error_ends_with_a_technical_failure(stand: BotStand) -> None:
    invited, rid, tx = signing_started(stand)
    stand.goskey("POST", f"/transactions/{tx}/error")
    settle(stand)
    assert state_of(stand, rid)["state"] == "platform_error"
    assert finals(stand, invited.user_id) == [outcome(PatientNotice.platform_error)]


@pytest.mark.parametrize("fault", [{"method": "download", "corrupt_archive": True},
                                   {"method": "download", "bad_operator_signature": True}])
def test_a_failed_signing_ends_with_a_technical_failure(stand: BotStand,
                                                        fault: dict[str, Any]) -> None:
    invited, rid, tx = signing_started(stand)
    stand.goskey("POST", "/faults", fault)
    stand.goskey("POST", f"/transactions/{tx}/sign")
    settle(stand)
    assert state_of(stand, rid)["state"] == "failed"
    assert finals(stand, invited.user_id) == [outcome(PatientNotice.technical_failure)]


def test_a_signing_stopped_by_the_appointments_cancellation_is_told_once(
        stand: BotStand) -> None:
    # The clinic cancels the visit while the patient is signing online: the transaction is
    # cancelled with the appointment, and the message that carries the Goskey link now says
    # the visit is cancelled (and loses the link) — one message, not silence.
    invited, rid, _ = signing_started(stand)
    stand.put_appointment(starts_at=VISIT, status="cancelled")
    settle(stand, rounds=2)
    assert state_of(stand, rid)["state"] == "cancelled"
    message = stand.invitation(invited.user_id)
    assert message["text"] == bot.appointment_cancelled(VISIT, "Europe/Moscow")
    assert message["keyboard"] is None
    assert finals(stand, invited.user_id) == []
    assert stand.notification().state == "cancelled"  # type: ignore[union-attr]
    assert [e["action"] for e in audit_of(stand, rid)][-1] == "signing.appointment_cancelled"


def test_no_final_message_to_a_patient_who_stopped_the_bot(stand: BotStand) -> None:
    invited, rid, tx = signing_started(stand)
    stand.max("POST", f"/users/{invited.user_id}/stop")
    stand.work()
    stand.goskey("POST", f"/transactions/{tx}/sign")
    settle(stand)
    assert state_of(stand, rid)["state"] == "completed"
    assert finals(stand, invited.user_id) == []  # only what was said before the stop
    assert stand.stats()["too_many_requests"] == 0


def test_a_clinics_cancellation_is_told_without_its_reason(stand: BotStand) -> None:
    invited, rid, _ = signing_started(stand)
    r = stand.api.post(f"/api/v1/signing-requests/{rid}/cancel",
                       json={"reason": "документы переоформляются"})
    assert r.status_code == 200, r.text
    settle(stand, rounds=2)
    assert state_of(stand, rid)["state"] == "cancelled"
    assert finals(stand, invited.user_id) == [outcome(PatientNotice.cancelled_by_clinic)]
    assert "переоформляются" not in " ".join(told(stand, invited.user_id))
    [entry] = [e for e in audit_of(stand, rid) if e["action"].startswith("signing.cancel")]
    assert entry["action"] == "signing.cancelled_by_clinic"
    assert entry["details"]["reason"] == "документы переоформляются"


def audit_of(stand: BotStand, rid: str) -> list[dict[str, Any]]:
    with Session(stand.engine) as db:
        return [{"action": a.action, "actor": a.actor, "details": a.details}
                for a in db.scalars(select(AuditRow).where(AuditRow.subject_id == rid)
                                    .order_by(AuditRow.id))]
