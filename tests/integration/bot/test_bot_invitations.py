"""Flow A, step 1: the day-before invitation — when, to whom, once; and what a reschedule or a
cancellation does to it before and after it went out."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from medsign.domain import bot
from medsign.services.notifications import NOTIFY_KIND
from tests.integration.bot.conftest import DAY1, DAY2, MOSCOW, VISIT, invite
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


def test_a_reschedule_after_sending_edits_the_sent_message(stand: BotStand) -> None:
    invited = invite(stand)
    sent_before = stand.stats()["messages_sent"]
    later = at(DAY2 + timedelta(days=1), 15, 0, MOSCOW)
    stand.put_appointment(starts_at=later)
    stand.work()
    message = stand.invitation(invited.user_id)
    assert message["edited"] and message["text"].startswith("Время приёма изменилось.\n\n")
    assert f"{bot.when(later, 'Europe/Moscow')} у вас приём" in message["text"]
    assert callback_payloads(message) == [invited.sign, invited.paper]  # buttons still work
    stats = stand.stats()
    assert (stats["messages_sent"], stats["messages_edited"]) == (sent_before, 1)
    row = stand.notification()
    assert row is not None and row.announced_start == later

    # The same reschedule told again edits nothing more.
    stand.put_appointment(starts_at=later)
    stand.work()
    assert stand.stats()["messages_edited"] == 1


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


def test_moving_a_visit_back_and_forth_is_told_every_time(stand: BotStand) -> None:
    invited = invite(stand)
    later = at(DAY2 + timedelta(days=1), 15, 0, MOSCOW)
    for starts_at in (later, VISIT, later):
        stand.put_appointment(starts_at=starts_at)
        stand.work()
        text = stand.invitation(invited.user_id)["text"]
        assert f"{bot.when(starts_at, 'Europe/Moscow')} у вас приём" in text, text
    assert stand.stats()["messages_edited"] == 3


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
    r = stand.api.post("/api/v1/appointments/a1/signing-requests")
    assert r.status_code == 201, r.text
    stand.work()
    stand.set_time(VISIT - timedelta(hours=24))
    stand.work()
    assert stand.sent_with(user, INVITATION) == []
    row = stand.notification()
    assert row is not None and (row.state, row.reason) == (
        "skipped", "нет документов для электронного подписания")
    assert len(stand.transactions()) == 1
