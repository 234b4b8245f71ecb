"""Flow C's end, told to the patient in MAX: one final message per signing, whatever the end."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from medsign.domain import bot
from medsign.domain.consents import ConsentKind
from medsign.domain.signing import SigningState
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


def finals(stand: BotStand, user_id: int) -> list[str]:
    """Bot messages after the invitation (the invitation itself is edited, not repeated)."""
    row = stand.notification()
    assert row is not None
    return [m["text"] for m in stand.bot_messages(user_id)
            if m["mid"] != row.message_mid and not m["text"].startswith("Аккаунт MAX")]


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
    assert finals(stand, invited.user_id) == [
        bot.outcome(SigningState.completed, kinds=KINDS, reason=None)]
    assert "документы подписаны" in finals(stand, invited.user_id)[0]
    assert stand.consents()["medical_intervention"] == ("electronic", "signed")
    settle(stand)  # nothing more is said
    assert len(finals(stand, invited.user_id)) == 1


def test_refused_signing_ends_with_cancelled_and_the_reason(stand: BotStand) -> None:
    invited, rid, tx = signing_started(stand)
    stand.goskey("POST", f"/transactions/{tx}/refuse")
    settle(stand)
    detail = state_of(stand, rid)
    assert detail["state"] == "cancelled"
    [final] = finals(stand, invited.user_id)
    assert final == bot.outcome(SigningState.cancelled, kinds=KINDS, reason=detail["reason"])
    assert final.startswith("Подписание отменено: Пациент отказался")


def test_expired_on_the_platform_ends_with_cancelled(stand: BotStand) -> None:
    invited, rid, tx = signing_started(stand)
    stand.goskey("POST", f"/transactions/{tx}/expire")
    settle(stand)
    assert state_of(stand, rid)["state"] == "cancelled"
    [final] = finals(stand, invited.user_id)
    assert final.startswith("Подписание отменено: Срок подписания на платформе истёк")


def test_not_signed_by_the_visit_ends_with_expired(stand: BotStand) -> None:
    invited, rid, _ = signing_started(stand)
    stand.set_time(VISIT + timedelta(hours=2))  # the visit plus signing.expiry_grace
    settle(stand, rounds=2)
    assert state_of(stand, rid)["state"] == "expired"
    assert finals(stand, invited.user_id) == [
        bot.outcome(SigningState.expired, kinds=KINDS, reason=None)]


def test_a_platform_error_ends_with_a_technical_failure(stand: BotStand) -> None:
    invited, rid, tx = signing_started(stand)
    stand.goskey("POST", f"/transactions/{tx}/error")
    settle(stand)
    assert state_of(stand, rid)["state"] == "platform_error"
    [final] = finals(stand, invited.user_id)
    assert "технической ошибки" in final


@pytest.mark.parametrize("fault", [{"method": "download", "corrupt_archive": True},
                                   {"method": "download", "bad_operator_signature": True}])
def test_a_failed_signing_ends_with_a_technical_failure(stand: BotStand,
                                                        fault: dict[str, Any]) -> None:
    invited, rid, tx = signing_started(stand)
    stand.goskey("POST", "/faults", fault)
    stand.goskey("POST", f"/transactions/{tx}/sign")
    settle(stand)
    assert state_of(stand, rid)["state"] == "failed"
    assert finals(stand, invited.user_id) == [
        bot.outcome(SigningState.failed, kinds=KINDS, reason=None)]


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


def test_no_final_message_to_a_patient_who_stopped_the_bot(stand: BotStand) -> None:
    invited, rid, tx = signing_started(stand)
    stand.max("POST", f"/users/{invited.user_id}/stop")
    stand.work()
    stand.goskey("POST", f"/transactions/{tx}/sign")
    settle(stand)
    assert state_of(stand, rid)["state"] == "completed"
    assert finals(stand, invited.user_id) == []
    assert stand.stats()["too_many_requests"] == 0


def test_an_operators_cancellation_is_told_to_the_patient(stand: BotStand) -> None:
    invited, rid, _ = signing_started(stand)
    r = stand.api.post(f"/api/v1/signing-requests/{rid}/cancel",
                       json={"reason": "документы переоформляются"})
    assert r.status_code == 200, r.text
    settle(stand, rounds=2)
    assert state_of(stand, rid)["state"] == "cancelled"
    assert finals(stand, invited.user_id) == [bot.outcome(
        SigningState.cancelled, kinds=KINDS, reason="документы переоформляются")]
