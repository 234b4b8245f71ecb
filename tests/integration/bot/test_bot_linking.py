"""Flow D: linking a patient's MAX account — one-time deep links, shared contacts — and what
stopping and restarting the bot does to the invitations."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from medsign.db.models import MaxLinkTokenRow
from medsign.domain import bot
from medsign.notifications.service import NOTIFY_KIND
from tests.integration.bot.conftest import VISIT, invite
from tests.integration.bot.stand import DEEP_LINK_BASE, PHONE, BotStand

LINKED = bot.linked("Иванов Иван Иванович")
CONTACT_KEYBOARD = [[{"type": "request_contact", "text": bot.SHARE_CONTACT_BUTTON}]]
INVITATION = "у вас приём"


def patient_with_visit(stand: BotStand) -> None:
    stand.put_organization()
    stand.put_patient()
    stand.put_appointment(starts_at=VISIT)


def texts(stand: BotStand, user_id: int) -> list[str]:
    return [m["text"] for m in stand.bot_messages(user_id)]


def test_the_deep_link_links_once(stand: BotStand) -> None:
    patient_with_visit(stand)
    r = stand.api.post("/api/v1/organizations/mo1/patients/p1/max-link")
    assert r.status_code == 201, r.text
    link = r.json()
    assert link["deep_link"] == f"{DEEP_LINK_BASE}?start={link['token']}"
    assert len(link["token"]) <= 128 and link["token"].replace("-", "").replace(
        "_", "").isalnum()
    user = stand.new_user(start=True, payload=link["token"])
    stand.work()

    patient = stand.patient()
    chat_id = stand.max("GET", f"/users/{user}/chat")["user"]["chat_id"]
    assert (patient.max_user_id, patient.max_chat_id, patient.max_reachable) == (
        user, chat_id, True)
    [message] = stand.bot_messages(user)
    assert message["text"] == LINKED and message["keyboard"] is None
    token_row = stand._one(lambda db: db.query(MaxLinkTokenRow).one())
    assert token_row.used_by == user and token_row.used_at == stand.clock.now()
    assert link["token"] not in token_row.token_hash  # only a hash is kept
    # The appointment already in the database is now planned.
    assert stand.notification().state == "scheduled"  # type: ignore[union-attr]

    # A second use — by someone else, or by the same person — is refused.
    other = stand.new_user("Пётр Петров", "+79990001122", start=True, payload=link["token"])
    stand.advance(timedelta(seconds=1))  # (same-millisecond twins would be one update)
    stand.max("POST", f"/users/{user}/start", {"payload": link["token"]})
    stand.work()
    assert stand.patient().max_user_id == user
    [refusal] = stand.bot_messages(other)
    assert refusal["text"] == bot.LINK_FAILED and refusal["keyboard"] == CONTACT_KEYBOARD
    assert texts(stand, user) == [LINKED, bot.LINK_FAILED]


def test_an_expired_deep_link_does_not_link(stand: BotStand) -> None:
    patient_with_visit(stand)
    token = stand.deep_link_token()
    stand.advance(timedelta(hours=24, seconds=1))  # notifications.link_token_ttl
    user = stand.new_user(start=True, payload=token)
    stand.work()
    assert stand.patient().max_user_id is None
    assert texts(stand, user) == [bot.LINK_FAILED]


def test_a_made_up_deep_link_does_not_link(stand: BotStand) -> None:
    patient_with_visit(stand)
    stand.deep_link_token()
    user = stand.new_user(start=True, payload=secrets.token_urlsafe(24))
    stand.work()
    assert stand.patient().max_user_id is None
    assert texts(stand, user) == [bot.LINK_FAILED]


def test_a_stranger_starting_the_bot_is_asked_to_link(stand: BotStand) -> None:
    patient_with_visit(stand)
    user = stand.new_user("Гость Гостев", None, start=True)
    stand.work()
    [message] = stand.bot_messages(user)
    assert message["text"] == bot.WELCOME_UNKNOWN and message["keyboard"] == CONTACT_KEYBOARD


def test_a_shared_contact_with_the_patients_phone_links(stand: BotStand) -> None:
    patient_with_visit(stand)
    user = stand.new_user("Иван Иванов", "+7 999 123-45-67".replace(" ", "").replace("-", ""),
                          start=True)
    stand.max("POST", f"/users/{user}/share-contact")
    stand.work()
    patient = stand.patient()
    assert (patient.max_user_id, patient.max_reachable) == (user, True)
    assert texts(stand, user) == [bot.WELCOME_UNKNOWN, LINKED]
    row = stand.notification()
    assert row is not None and row.state == "scheduled"
    stand.set_time(row.scheduled_for)  # type: ignore[arg-type]
    stand.work()
    assert len(stand.sent_with(user, INVITATION)) == 1


def test_a_shared_contact_with_an_unknown_phone_links_nothing(stand: BotStand) -> None:
    patient_with_visit(stand)
    user = stand.new_user("Анна Иная", "+79997654321", start=True)
    stand.max("POST", f"/users/{user}/share-contact")
    stand.work()
    assert stand.patient().max_user_id is None
    assert texts(stand, user) == [bot.WELCOME_UNKNOWN, bot.CONTACT_NOT_FOUND]


def someone_elses_contact(stand: BotStand, sender: int, owner: int) -> dict[str, Any]:
    """A message from ``sender`` carrying the contact card of ``owner`` (the patient's phone):
    forwarding a card proves nothing about the sender's own number."""
    own = stand.max("POST", f"/users/{owner}/share-contact")["update"]
    card = own["message"]["body"]["attachments"][0]
    sender_wire = stand.emulator.store.users[sender].wire()
    forged = {**own, "message": {**own["message"], "sender": sender_wire,
                                 "body": {**own["message"]["body"], "mid": "mid." + "ab" * 16,
                                          "attachments": [card]}}}
    return forged


def test_someone_elses_contact_does_nothing(stand: BotStand) -> None:
    patient_with_visit(stand)
    owner = stand.new_user("Иван Иванов", PHONE, start=True)
    intruder = stand.new_user("Пётр Чужой", "+79990000999", start=True)
    forged = someone_elses_contact(stand, intruder, owner)
    stand.max("POST", "/reset")  # the owner's own share never reaches the service
    stand.marker = None
    stand.ingest(forged)
    stand.run_worker()
    assert stand.patient().max_user_id is None
    assert stand.stats()["messages_sent"] == 0


def test_a_patient_who_stops_the_bot_gets_no_invitation(stand: BotStand) -> None:
    patient_with_visit(stand)
    user = stand.link()
    stand.max("POST", f"/users/{user}/stop")
    stand.work()
    assert stand.patient().max_reachable is False
    row = stand.notification()
    assert row is not None
    stand.set_time(VISIT - timedelta(hours=24))
    stand.work()
    assert stand.sent_with(user, INVITATION) == []
    row = stand.notification()
    assert row is not None and (row.state, row.reason) == ("skipped",
                                                           "пациент остановил бота MAX")
    assert stand.stats()["messages_sent"] == 1  # only «аккаунт привязан», before the stop


def test_chat_denied_from_the_platform_marks_the_patient_unreachable(stand: BotStand) -> None:
    patient_with_visit(stand)
    user = stand.link()
    # The patient stops the bot, but the service has not heard of it yet when the
    # invitation is due: the platform refuses the message (403 chat.denied).
    stand.max("POST", f"/users/{user}/stop")
    stand.set_time(VISIT - timedelta(hours=24))
    stand.run_worker()
    patient = stand.patient()
    assert patient.max_reachable is False
    row = stand.notification()
    assert row is not None and row.state == "undeliverable" and "chat.denied" in (
        row.reason or "")
    assert [i.status for i in stand.items(NOTIFY_KIND)] == ["cancelled"]
    assert stand.stats()["messages_sent"] == 1
    stand.work()  # the late bot_stopped changes nothing more
    assert stand.patient().max_reachable is False


def test_starting_the_bot_again_makes_the_patient_reachable_and_invites_them(
        stand: BotStand) -> None:
    patient_with_visit(stand)
    user = stand.link()
    stand.max("POST", f"/users/{user}/stop")
    stand.work()
    stand.set_time(VISIT - timedelta(hours=24))
    stand.work()
    assert stand.notification().state == "skipped"  # type: ignore[union-attr]

    stand.advance(timedelta(hours=1))
    stand.max("POST", f"/users/{user}/start", {"payload": None})
    stand.work()
    assert stand.patient().max_reachable is True
    assert stand.sent_with(user, INVITATION) != []  # re-planned: sent at once (late booking)
    assert len(stand.sent_with(user, INVITATION)) == 1


def test_starting_again_through_the_old_deep_link_also_makes_them_reachable(
        stand: BotStand) -> None:
    # A patient who stopped the bot restarts it from the same portal link (its token is
    # spent): the link is refused, but the account they linked is theirs and reachable again,
    # and the invitation they missed is planned anew.
    patient_with_visit(stand)
    token = stand.deep_link_token()
    user = stand.new_user(start=True, payload=token)
    stand.work()
    stand.max("POST", f"/users/{user}/stop")
    stand.work()
    stand.set_time(VISIT - timedelta(hours=24))
    stand.work()
    assert stand.notification().state == "skipped"  # type: ignore[union-attr]

    stand.advance(timedelta(hours=1))
    stand.max("POST", f"/users/{user}/start", {"payload": token})
    stand.work()
    assert stand.patient().max_reachable is True
    assert len(stand.sent_with(user, INVITATION)) == 1


def test_an_invitation_already_sent_survives_a_stop_and_its_buttons_work_after_a_restart(
        stand: BotStand) -> None:
    invited = invite(stand)
    stand.max("POST", f"/users/{invited.user_id}/stop")
    stand.work()
    stand.max("POST", f"/users/{invited.user_id}/start", {"payload": None})
    stand.work()
    stand.press(invited.user_id, invited.mid, invited.sign)
    stand.work()
    assert len(stand.signing_requests()) == 1
    assert len(stand.sent_with(invited.user_id, INVITATION)) == 0  # edited to «Спасибо!…»
