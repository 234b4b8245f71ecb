"""Replacing a patient's MAX account: never silently. The new account waits; the chat of the
account linked now is asked «Да, привязать новый аккаунт» / «Нет», and only «Да» moves the
link — by deep link, by shared contact (the portal's link is a deep link too)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from medsign.bot import links as max_links
from medsign.db.models import AuditRow, MaxRelinkRow
from medsign.domain import bot
from tests.integration.bot.conftest import VISIT
from tests.integration.bot.stand import PHONE, BotStand

NEW_PHONE = "+79990005555"
QUESTION = "Кто-то хочет привязать другой аккаунт MAX"


def patient_with_visit(stand: BotStand) -> int:
    """The patient, their visit, and the MAX account linked to them now."""
    stand.put_organization()
    stand.put_patient()
    stand.put_appointment(starts_at=VISIT)
    return stand.link()


def by_deep_link(stand: BotStand) -> int:
    token = stand.deep_link_token()
    new = stand.new_user("Иван Иванов", NEW_PHONE, start=True, payload=token)
    stand.work()
    return new


def by_contact(stand: BotStand) -> int:
    new = stand.new_user("Иван Иванов", PHONE, start=True)  # the patient's phone, new account
    stand.work()  # the welcome first: the worker may answer one batch's updates in any order
    stand.max("POST", f"/users/{new}/share-contact")
    stand.work()
    return new


def question(stand: BotStand, user_id: int) -> dict[str, Any]:
    [asked] = stand.sent_with(user_id, QUESTION)
    return asked


def button(message: dict[str, Any], text: str) -> str:
    [found] = [b for row in message["keyboard"] for b in row if b["text"] == text]
    payload: str = found["payload"]
    return payload


def texts(stand: BotStand, user_id: int) -> list[str]:
    return [m["text"] for m in stand.bot_messages(user_id)]


def actions(stand: BotStand) -> list[str]:
    return stand._one(lambda db: list(db.scalars(
        select(AuditRow.action).where(AuditRow.action.like("max_link.%")).order_by(AuditRow.id))))


@pytest.mark.parametrize("how", [by_deep_link, by_contact])
def test_a_new_account_waits_and_the_current_one_is_asked(stand: BotStand, how: Any) -> None:
    old = patient_with_visit(stand)
    new = how(stand)
    patient = stand.patient()
    assert (patient.max_user_id, patient.max_reachable) == (old, True)  # not switched
    assert texts(stand, new)[-1] == bot.RELINK_WAIT
    asked = question(stand, old)
    assert "Иванов Иван Иванович" in asked["text"]
    assert [[b["text"] for b in row] for row in asked["keyboard"]] == [
        [bot.RELINK_YES_BUTTON, bot.RELINK_NO_BUTTON]]
    assert actions(stand)[-1] == "max_link.relink_asked"


@pytest.mark.parametrize("how", [by_deep_link, by_contact])
def test_yes_in_the_current_chat_switches_the_link(stand: BotStand, how: Any) -> None:
    old = patient_with_visit(stand)
    new = how(stand)
    asked = question(stand, old)
    stand.press(old, asked["mid"], button(asked, bot.RELINK_YES_BUTTON))
    stand.work()
    patient = stand.patient()
    new_chat = stand.max("GET", f"/users/{new}/chat")["user"]["chat_id"]
    assert (patient.max_user_id, patient.max_chat_id, patient.max_reachable) == (
        new, new_chat, True)
    [edited] = [m for m in stand.bot_messages(old) if m["mid"] == asked["mid"]]
    assert (edited["text"], edited["keyboard"]) == (bot.RELINK_DONE_OLD, None)
    assert texts(stand, new)[-1] == bot.linked("Иванов Иван Иванович")
    assert bot.RELINK_YES_TOAST in stand.toasts(old)
    audit = stand._one(lambda db: db.scalars(select(AuditRow).where(
        AuditRow.action == "max_link.relinked")).one())
    assert audit.actor == f"max:{old}" and audit.details["new"] == f"max:{new}"
    # The invitation now goes to the new account only.
    stand.set_time(VISIT - timedelta(hours=24))
    stand.work()
    assert stand.sent_with(new, "у вас приём") and not stand.sent_with(old, "у вас приём")


def test_no_in_the_current_chat_keeps_the_link_and_the_new_account_is_told(
        stand: BotStand) -> None:
    old = patient_with_visit(stand)
    new = by_deep_link(stand)
    asked = question(stand, old)
    stand.press(old, asked["mid"], button(asked, bot.RELINK_NO_BUTTON))
    stand.work()
    assert stand.patient().max_user_id == old
    assert texts(stand, new)[-1] == bot.RELINK_DECLINED
    assert actions(stand)[-1] == "max_link.relink_declined"
    # The buttons are gone; a «Да» replayed after the «Нет» is stale: nothing changes.
    [edited] = [m for m in stand.bot_messages(old) if m["mid"] == asked["mid"]]
    assert (edited["text"], edited["keyboard"]) == (bot.RELINK_KEPT_OLD, None)
    stand.ingest(stand.forge_callback(old, asked["mid"], button(asked, bot.RELINK_YES_BUTTON)))
    stand.run_worker()
    assert stand.patient().max_user_id == old and bot.STALE_BUTTON in stand.toasts(old)


def test_an_ignored_question_expires_and_changes_nothing(stand: BotStand) -> None:
    old = patient_with_visit(stand)
    new = by_deep_link(stand)
    asked = question(stand, old)
    stand.advance(max_links.RELINK_TTL + timedelta(seconds=1))
    assert stand.patient().max_user_id == old
    stand.press(old, asked["mid"], button(asked, bot.RELINK_YES_BUTTON))
    stand.work()
    assert stand.patient().max_user_id == old
    assert bot.STALE_BUTTON in stand.toasts(old)
    assert texts(stand, new)[-1] == bot.RELINK_WAIT
    assert "max_link.relinked" not in actions(stand)


def test_only_the_current_account_can_answer(stand: BotStand) -> None:
    old = patient_with_visit(stand)
    new = by_deep_link(stand)
    asked = question(stand, old)
    # The new account (or anyone) sends the «Да» payload itself: refused.
    forged = stand.forge_callback(new, asked["mid"], button(asked, bot.RELINK_YES_BUTTON))
    stand.ingest(forged)
    stand.run_worker()
    assert stand.patient().max_user_id == old
    assert stand._one(lambda db: db.scalars(select(MaxRelinkRow)).one()).decision is None


def test_asking_twice_sends_one_question(stand: BotStand) -> None:
    old = patient_with_visit(stand)
    new = by_contact(stand)
    stand.advance(timedelta(seconds=1))
    stand.max("POST", f"/users/{new}/share-contact")
    stand.work()
    assert len(stand.sent_with(old, QUESTION)) == 1
    assert texts(stand, new).count(bot.RELINK_WAIT) == 2


def test_the_same_account_linking_again_asks_nobody(stand: BotStand) -> None:
    old = patient_with_visit(stand)
    stand.max("POST", f"/users/{old}/share-contact")
    stand.work()
    assert stand.patient().max_user_id == old
    assert stand.sent_with(old, QUESTION) == []
