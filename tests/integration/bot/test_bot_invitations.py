"""Flow A, step 1: the day-before invitation — when, to whom, once; and what a reschedule or a
cancellation does to it before and after it went out."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from medsign.domain import bot
from medsign.notifications.service import NOTIFY_KIND
from tests.integration.bot.conftest import DAY1, DAY2, MOSCOW, VISIT, Invited, invite
from tests.integration.bot.stand import GOSKEY_BOT_URL, BotStand

INVITATION = "у вас приём"


def at(day: date, hour: int, minute: int, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=tz)


def callback_payloads(message: dict[str, object]) -> list[str]:
    rows = message["keyboard"] or []
    assert isinstance(rows, list)
    return [b["payload"] for row in rows for b in row if b["type"] == "callback"]


@pytest.mark.parametrize("tz", ["Asia/Vladivostok", "Europe/Kaliningrad"])
def test_the_invitation_goes_out_once_at_the_offset_moved_out_of_local_quiet_hours(
        stand: BotStand, tz: str) -> None:
    local = ZoneInfo(tz)
    stand.put_organization(timezone=tz, quiet_hours="21:00-09:00")
    stand.put_patient()
    user = stand.link()
    # 08:30 local: a day before is 08:30, inside the quiet hours, so 09:00 local instead.
    stand.put_appointment(starts_at=at(DAY2, 8, 30, local))
    due = at(DAY1, 9, 0, local)
    row = stand.notification()
    assert row is not None and (row.state, row.scheduled_for) == ("scheduled", due)

    stand.set_time(due - timedelta(seconds=1))
    stand.work()
    assert stand.sent_with(user, INVITATION) == []
    assert stand.notification().state == "scheduled"  # type: ignore[union-attr]

    stand.set_time(due)
    stand.work()
    [message] = stand.sent_with(user, INVITATION)
    assert f"{bot.when(at(DAY2, 8, 30, local), tz)} у вас приём" in message["text"]
    row = stand.notification()
    assert row is not None and row.state == "sent" and row.message_mid == message["mid"]
    assert callback_payloads(message) == [f"sign:{row.token}", f"paper:{row.token}"]
    assert [b["text"] for b in message["keyboard"][0]] == [bot.SIGN_BUTTON, bot.PAPER_BUTTON]

    # Later passes of the worker and a resend of the same appointment change nothing.
    stand.advance(timedelta(hours=3))
    stand.put_appointment(starts_at=at(DAY2, 8, 30, local))
    stand.work()
    assert len(stand.sent_with(user, INVITATION)) == 1
    assert stand.stats()["messages_sent"] == 2  # «аккаунт привязан» and the invitation
    assert [i.status for i in stand.items(NOTIFY_KIND)] == ["done"]


def test_without_quiet_hours_in_the_way_the_offset_is_exact(stand: BotStand) -> None:
    stand.put_organization(timezone="Asia/Vladivostok")
    stand.put_patient()
    user = stand.link()
    local = ZoneInfo("Asia/Vladivostok")
    stand.put_appointment(starts_at=at(DAY2, 14, 0, local))
    due = at(DAY1, 14, 0, local)
    assert stand.notification().scheduled_for == due  # type: ignore[union-attr]
    stand.set_time(due - timedelta(minutes=1))
    stand.work()
    assert stand.sent_with(user, INVITATION) == []
    stand.set_time(due + timedelta(minutes=1))
    stand.work()
    assert len(stand.sent_with(user, INVITATION)) == 1


def test_the_organisations_default_quiet_hours_apply_when_it_has_none(stand: BotStand) -> None:
    stand.put_organization(quiet_hours=None)
    stand.put_patient()
    stand.link()
    stand.put_appointment(starts_at=at(DAY2, 7, 0, MOSCOW))
    # 07:00 the day before is quiet under the default 21:00-09:00: 09:00 instead.
    assert stand.notification().scheduled_for == at(  # type: ignore[union-attr]
        DAY1, 9, 0, MOSCOW)


def test_no_invitation_when_every_document_is_on_paper(stand: BotStand) -> None:
    stand.put_organization()
    stand.put_patient()
    user = stand.link()
    stand.put_appointment(starts_at=VISIT, consents=[
        {"kind": "medical_intervention", "signing_method": "paper"}])
    stand.set_time(VISIT - timedelta(hours=2))
    stand.work()
    assert stand.notification() is None
    assert stand.sent_with(user, INVITATION) == []


def test_no_invitation_for_a_cancelled_appointment(stand: BotStand) -> None:
    stand.put_organization()
    stand.put_patient()
    user = stand.link()
    stand.put_appointment(starts_at=VISIT, status="cancelled")
    stand.set_time(VISIT - timedelta(hours=2))
    stand.work()
    assert stand.notification() is None
    assert stand.sent_with(user, INVITATION) == []


def test_no_invitation_to_an_unlinked_patient_until_they_link(stand: BotStand) -> None:
    stand.put_organization()
    stand.put_patient()
    stand.put_appointment(starts_at=VISIT)
    assert stand.notification() is None
    stand.set_time(VISIT - timedelta(hours=30))
    stand.work()
    assert stand.items(NOTIFY_KIND) == []
    # Linking later plans the invitation of the visits still ahead.
    user = stand.link()
    row = stand.notification()
    assert row is not None and row.scheduled_for == VISIT - timedelta(hours=24)
    stand.set_time(VISIT - timedelta(hours=24))
    stand.work()
    assert len(stand.sent_with(user, INVITATION)) == 1


def test_a_reschedule_before_sending_moves_the_timer(stand: BotStand) -> None:
    stand.put_organization()
    stand.put_patient()
    user = stand.link()
    stand.put_appointment(starts_at=VISIT)
    old_due = VISIT - timedelta(hours=24)
    later = at(DAY2 + timedelta(days=1), 15, 0, MOSCOW)
    new_due = later - timedelta(hours=24)
    stand.put_appointment(starts_at=later)
    row = stand.notification()
    assert row is not None and (row.state, row.scheduled_for) == ("scheduled", new_due)
    open_items = [i for i in stand.items(NOTIFY_KIND) if i.status == "scheduled"]
    assert [i.next_run_at for i in open_items] == [new_due]

    stand.set_time(old_due + timedelta(minutes=5))
    stand.work()
    assert stand.sent_with(user, INVITATION) == []
    stand.set_time(new_due)
    stand.work()
    [message] = stand.sent_with(user, INVITATION)
    assert f"{bot.when(later, 'Europe/Moscow')} у вас приём" in message["text"]
    assert not message["text"].startswith("Время приёма изменилось")


def moved_after_sending(stand: BotStand, later: datetime) -> tuple[Invited, dict[str, Any]]:
    """Invite, then move the visit to ``later``: the invitation and its edited message."""
    invited = invite(stand)
    stand.put_appointment(starts_at=later)
    stand.work()
    [old] = [m for m in stand.bot_messages(invited.user_id) if m["mid"] == invited.mid]
    return invited, old


LATER = at(DAY2 + timedelta(days=1), 15, 0, MOSCOW)


def test_a_move_after_sending_edits_the_old_message_and_sends_a_fresh_invitation(
        stand: BotStand) -> None:
    invited, old = moved_after_sending(stand, LATER)
    sent_before = stand.stats()["messages_sent"]  # «аккаунт привязан» and the invitation
    assert old["edited"] and old["keyboard"] is None
    assert old["text"] == bot.moved(VISIT, LATER, "Europe/Moscow", invited_again=True)
    first, fresh = stand.notifications()
    assert (first.state, first.message_mid, first.token) == ("superseded", invited.mid,
                                                             invited.token)
    new_due = LATER - timedelta(hours=24)
    assert (fresh.state, fresh.scheduled_for) == ("scheduled", new_due)
    assert fresh.token != invited.token
    assert fresh.token_expires_at == LATER + timedelta(hours=48)  # follows the new time

    stand.set_time(new_due - timedelta(minutes=1))
    stand.work()
    assert stand.stats()["messages_sent"] == sent_before
    stand.set_time(new_due)
    stand.work()
    message = stand.invitation(invited.user_id)
    assert message["mid"] != invited.mid and not message["edited"]
    assert f"{bot.when(LATER, 'Europe/Moscow')} у вас приём" in message["text"]
    assert callback_payloads(message) == [f"sign:{fresh.token}", f"paper:{fresh.token}"]
    stats = stand.stats()
    assert (stats["messages_sent"], stats["messages_edited"]) == (sent_before + 1, 1)

    # The old buttons (a late or replayed press) no longer act; the new ones do.
    stand.ingest(stand.forge_callback(invited.user_id, invited.mid, invited.sign))
    stand.work()
    assert stand.toasts(invited.user_id) == [bot.STALE_BUTTON]
    assert stand.signing_requests() == []
    stand.press(invited.user_id, message["mid"], f"sign:{fresh.token}")
    stand.work()
    assert len(stand.signing_requests()) == 1
    assert stand.notification().choice == "sign"  # type: ignore[union-attr]


def test_the_same_move_told_again_changes_nothing(stand: BotStand) -> None:
    invited, _ = moved_after_sending(stand, LATER)
    stand.put_appointment(starts_at=LATER)
    stand.work()
    assert [n.state for n in stand.notifications()] == ["superseded", "scheduled"]
    assert stand.stats()["messages_edited"] == 1
    assert len([i for i in stand.items(NOTIFY_KIND) if i.status == "scheduled"]) == 1


def test_moving_again_before_the_fresh_invitation_went_out_just_re_times_it(
        stand: BotStand) -> None:
    moved_after_sending(stand, LATER)
    even_later = LATER + timedelta(days=2)
    stand.put_appointment(starts_at=even_later)
    stand.work()
    first, fresh = stand.notifications()
    assert (fresh.state, fresh.scheduled_for) == ("scheduled", even_later - timedelta(hours=24))
    assert [i.next_run_at for i in stand.items(NOTIFY_KIND) if i.status == "scheduled"] == [
        even_later - timedelta(hours=24)]
    assert stand.stats()["messages_edited"] == 1


def test_moving_a_visit_back_and_forth_is_told_every_time(stand: BotStand) -> None:
    invited = invite(stand)
    tokens = {invited.token}
    # Later, then a little sooner again (announced at once), then later still.
    far = VISIT + timedelta(days=5)
    for starts_at in (far, far - timedelta(hours=4), far + timedelta(days=1)):
        told = stand.notification()
        assert told is not None and told.message_mid
        stand.put_appointment(starts_at=starts_at)
        stand.work()
        [old] = [m for m in stand.bot_messages(invited.user_id) if m["mid"] == told.message_mid]
        assert old["text"].startswith("Приём перенесён") and old["keyboard"] is None
        fresh = stand.notification()
        assert fresh is not None and fresh.scheduled_for is not None
        stand.set_time(max(fresh.scheduled_for, stand.clock.now()))
        stand.work()
        message = stand.invitation(invited.user_id)
        assert f"{bot.when(starts_at, 'Europe/Moscow')} у вас приём" in message["text"]
        tokens.add(fresh.token)
    assert [n.state for n in stand.notifications()] == ["superseded"] * 3 + ["sent"]
    assert len(tokens) == 4
    assert stand.stats()["messages_edited"] == 3


def test_a_move_to_less_than_the_lead_ahead_sends_no_fresh_invitation(stand: BotStand) -> None:
    # Told at 14:00 the day before; moved to 01:00 the next night: eleven hours ahead, less
    # than the twelve-hour lead, so the visit is signed in the clinic.
    soon = at(DAY2, 1, 0, MOSCOW)
    invited, old = moved_after_sending(stand, soon)
    assert old["text"] == bot.moved(VISIT, soon, "Europe/Moscow", invited_again=False)
    assert old["keyboard"] is None
    assert [n.state for n in stand.notifications()] == ["superseded"]


def test_a_move_to_sooner_sends_the_fresh_invitation_at_once(stand: BotStand) -> None:
    sooner = at(DAY2, 10, 0, MOSCOW)  # 20 h ahead: its due time has passed
    invited, old = moved_after_sending(stand, sooner)
    assert old["text"] == bot.moved(VISIT, sooner, "Europe/Moscow", invited_again=True)
    assert [n.state for n in stand.notifications()] == ["superseded", "sent"]
    message = stand.invitation(invited.user_id)
    assert f"{bot.when(sooner, 'Europe/Moscow')} у вас приём" in message["text"]


def test_a_cancellation_after_a_move_is_told_in_the_message_the_patient_has(
        stand: BotStand) -> None:
    invited, _ = moved_after_sending(stand, LATER)
    stand.put_appointment(starts_at=LATER, status="cancelled")
    stand.work()
    [old] = [m for m in stand.bot_messages(invited.user_id) if m["mid"] == invited.mid]
    assert old["text"] == bot.appointment_cancelled(LATER, "Europe/Moscow")
    assert [(n.state, n.reason) for n in stand.notifications()] == [
        ("superseded", "запись отменена"), ("skipped", "запись отменена")]
    stand.set_time(LATER - timedelta(hours=24))
    stand.work()
    assert stand.stats()["messages_edited"] == 2
    assert len(stand.sent_with(invited.user_id, INVITATION)) == 0


def test_a_cancellation_before_sending_cancels_the_timer(stand: BotStand) -> None:
    stand.put_organization()
    stand.put_patient()
    user = stand.link()
    stand.put_appointment(starts_at=VISIT)
    stand.put_appointment(starts_at=VISIT, status="cancelled")
    row = stand.notification()
    assert row is not None and (row.state, row.reason) == ("skipped", "запись отменена")
    assert [i.status for i in stand.items(NOTIFY_KIND)] == ["cancelled"]
    stand.set_time(VISIT - timedelta(hours=2))
    stand.work()
    assert stand.sent_with(user, INVITATION) == []
    assert stand.stats()["messages_sent"] == 1  # only «аккаунт привязан»


def test_a_cancellation_after_sending_says_so_and_takes_the_buttons_away(
        stand: BotStand) -> None:
    invited = invite(stand)
    stand.put_appointment(starts_at=VISIT, status="cancelled")
    stand.work()
    message = stand.invitation(invited.user_id)
    assert message["text"] == bot.appointment_cancelled(VISIT, "Europe/Moscow")
    assert message["text"].startswith(f"Приём {bot.when(VISIT, 'Europe/Moscow')} отменён клиникой.")
    assert message["keyboard"] is None and message["edited"]
    assert stand.notification().state == "cancelled"  # type: ignore[union-attr]

    # An old press of the vanished button (a late or replayed update) is refused politely.
    stand.ingest(stand.forge_callback(invited.user_id, invited.mid, invited.sign))
    stand.work()
    assert stand.toasts(invited.user_id) == [bot.STALE_BUTTON]
    assert stand.signing_requests() == []
    assert stand.invitation(invited.user_id)["text"].startswith(
        f"Приём {bot.when(VISIT, 'Europe/Moscow')}")


def test_the_goskey_link_is_the_configured_one(stand: BotStand) -> None:
    invited = invite(stand)
    stand.press(invited.user_id, invited.mid, invited.sign)
    stand.work()
    [sent] = [m for m in stand.bot_messages(invited.user_id)
              if m["text"].startswith("Документы отправлены в Госключ")]
    assert sent["keyboard"] == [
        [{"type": "link", "text": bot.GOSKEY_BUTTON, "url": GOSKEY_BOT_URL}]]


def test_a_new_time_after_choosing_the_clinic_updates_the_time_in_the_message(
        stand: BotStand) -> None:
    invited = invite(stand)
    stand.press(invited.user_id, invited.mid, invited.paper)
    stand.work()
    later = at(DAY2 + timedelta(days=1), 15, 0, MOSCOW)
    stand.put_appointment(starts_at=later)
    stand.work()
    message = stand.invitation(invited.user_id)
    assert message["text"] == bot.rescheduled(bot.after_paper(later, "Europe/Moscow"))
    assert message["keyboard"] is None


def test_a_cancellation_after_choosing_the_clinic_is_told(stand: BotStand) -> None:
    invited = invite(stand)
    stand.press(invited.user_id, invited.mid, invited.paper)
    stand.work()
    stand.put_appointment(starts_at=VISIT, status="cancelled")
    stand.work()
    assert stand.invitation(invited.user_id)["text"] == bot.appointment_cancelled(
        VISIT, "Europe/Moscow")


def test_no_invitation_once_the_doctor_has_sent_the_documents(stand: BotStand) -> None:
    stand.put_organization()
    stand.put_patient()
    user = stand.link()
    stand.put_appointment(starts_at=VISIT)
    r = stand.api.post("/api/v1/organizations/mo1/appointments/a1/signing-requests")
    assert r.status_code == 201, r.text
    stand.work()
    stand.set_time(VISIT - timedelta(hours=24))
    stand.work()
    assert stand.sent_with(user, INVITATION) == []
    row = stand.notification()
    assert row is not None and (row.state, row.reason) == (
        "skipped", "нет документов для электронного подписания")
    assert len(stand.transactions()) == 1
