"""A patient known in MAX but without a phone presses «Подписать онлайн»: the bot asks for the
contact (MAX's ``request_contact`` button) instead of a dead end, stores the phone it gets
from the patient's own account, and offers the buttons again — end to end through the MAX and
Goskey emulators."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from medsign.db.models import AuditRow
from medsign.domain import bot
from tests import factories as f
from tests.integration.bot.conftest import VISIT
from tests.integration.bot.stand import PHONE, BotStand
from tests.integration.bot.test_bot_linking import CONTACT_KEYBOARD, someone_elses_contact

INVITATION = "у вас приём"


def invited_without_phone(stand: BotStand) -> tuple[int, str, str]:
    """A linked patient the МИС gave no phone, whose invitation has just gone out."""
    stand.put_organization()
    stand.put_patient(phone=None)
    # The person's Госуслуги account is registered with that number at the platform.
    stand.goskey("POST", "/people", f.goskey_person(f.patient(phone=PHONE)), expect=None)
    user = stand.link(phone=PHONE)  # the MAX account has the number; the record does not
    stand.put_appointment(starts_at=VISIT)
    row = stand.notification()
    assert row is not None and row.scheduled_for is not None
    stand.set_time(row.scheduled_for)
    stand.work()
    row = stand.notification()
    assert row is not None and row.state == "sent" and row.message_mid
    return user, row.message_mid, row.token


def phone_audit(stand: BotStand) -> list[AuditRow]:
    return stand._one(lambda db: list(db.scalars(
        select(AuditRow).where(AuditRow.action == "patient.phone_from_max"))))


def buttons(message: dict[str, Any]) -> list[str]:
    return [b.get("payload") or b["type"] for row in message["keyboard"] or [] for b in row]


def test_pressing_sign_without_a_phone_asks_for_the_contact_then_signing_starts(
        stand: BotStand) -> None:
    user, mid, token = invited_without_phone(stand)
    stand.press(user, mid, f"sign:{token}")
    stand.work()
    assert stand.toasts(user) == [bot.PHONE_NEEDED_TOAST]
    [ask] = stand.sent_with(user, bot.SHARE_CONTACT_TO_SIGN)
    assert ask["keyboard"] == CONTACT_KEYBOARD
    assert stand.signing_requests() == []
    assert stand.notification().choice is None  # type: ignore[union-attr]
    assert stand.invitation(user)["keyboard"] is not None  # its buttons still act

    stand.max("POST", f"/users/{user}/share-contact")
    stand.work()
    assert stand.patient().phone == PHONE
    [entry] = phone_audit(stand)
    assert (entry.actor, entry.subject_id) == (f"max:{user}", "p1")
    assert PHONE not in str(entry.details)  # masked
    [offer] = stand.sent_with(user, bot.PHONE_SAVED_SIGN)
    assert buttons(offer) == [f"sign:{token}", f"paper:{token}"]

    stand.press(user, offer["mid"], f"sign:{token}")
    stand.work()
    [request] = stand.signing_requests()
    assert request["state"] not in ("failed", "cancelled")
    [transaction] = stand.transactions()
    assert PHONE[-4:] in str(transaction)  # the platform was given the shared number
    assert stand.notification().choice == "sign"  # type: ignore[union-attr]
    assert stand.toasts(user) == [bot.PHONE_NEEDED_TOAST, bot.SIGNING_STARTED_TOAST]


def test_the_contact_of_someone_else_stores_no_phone(stand: BotStand) -> None:
    user, mid, token = invited_without_phone(stand)
    stand.press(user, mid, f"sign:{token}")
    stand.work()
    stranger = stand.new_user("Пётр Чужой", "+79990000999", start=True)
    stand.work()
    forged = someone_elses_contact(stand, user, stranger)  # the stranger's card, sent by user
    stand.ingest(forged)
    stand.work()
    assert stand.patient().phone is None
    assert phone_audit(stand) == []
    assert stand.sent_with(user, bot.PHONE_SAVED) == []


def test_a_phone_the_clinic_gave_is_not_replaced_from_max(stand: BotStand) -> None:
    stand.put_organization()
    stand.put_patient(phone="+7 999 765-43-21")
    user = stand.link(phone=PHONE)
    stand.max("POST", f"/users/{user}/share-contact")
    stand.work()
    assert stand.patient().phone == "+79997654321"
    assert phone_audit(stand) == []


def test_sharing_the_contact_with_no_open_invitation_just_saves_the_phone(
        stand: BotStand) -> None:
    stand.put_organization()
    stand.put_patient(phone=None)
    user = stand.link(phone=PHONE)
    stand.max("POST", f"/users/{user}/share-contact")
    stand.work()
    assert stand.patient().phone == PHONE
    assert [m["text"] for m in stand.bot_messages(user)][-1] == bot.PHONE_SAVED
    assert stand.sent_with(user, INVITATION) == []
