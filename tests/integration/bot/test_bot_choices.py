"""Flow A, steps 2–3: the patient's buttons. «Подписать онлайн» starts exactly one signing
transaction however often the press arrives; «Подпишу в клинике» moves the documents to paper;
anything stale, foreign, expired or forged gets a polite toast and changes nothing."""

from __future__ import annotations

import secrets
from datetime import timedelta

from medsign.bot.updates import UPDATE_KIND
from medsign.db.models import MaxUpdateRow
from medsign.domain import bot
from medsign.domain.consents import ConsentKind
from tests.integration.bot.conftest import VISIT, Invited, invite
from tests.integration.bot.stand import GOSKEY_BOT_URL, BotStand

KINDS = [ConsentKind.medical_intervention, ConsentKind.personal_data]
INITIAL_CONSENTS = {"medical_intervention": ("electronic", "pending"),
                    "personal_data": ("electronic", "pending"),
                    "paid_services_contract": ("paper", "pending")}


def test_sign_online_answers_edits_and_starts_one_transaction_for_a_double_press(
        any_stand: BotStand) -> None:
    stand = any_stand
    invited = invite(stand)
    first = stand.press(invited.user_id, invited.mid, invited.sign)
    second = stand.press(invited.user_id, invited.mid, invited.sign)  # a nervous double tap
    assert first["callback"]["callback_id"] != second["callback"]["callback_id"]
    stand.work()

    assert sorted(stand.toasts(invited.user_id)) == sorted(
        [bot.SIGNING_STARTED_TOAST, bot.ALREADY_CHOSEN])
    message = stand.invitation(invited.user_id)
    assert message["text"] == bot.after_sign(KINDS)  # «готовим», nothing claimed yet
    assert message["keyboard"] is None
    # once the platform accepted the transaction: the documents are in Госключ, with the link
    [sent] = [m for m in stand.bot_messages(invited.user_id)
              if m["text"] == bot.documents_sent(KINDS)]
    assert sent["keyboard"] == [[{"type": "link", "text": bot.GOSKEY_BUTTON,
                                  "url": GOSKEY_BOT_URL}]]
    [request] = stand.signing_requests()
    assert (request["state"], request["initiated_by"]) == ("sent", "patient")
    [transaction] = stand.transactions()
    assert transaction["sends_for_key"] == 1
    assert transaction["phone"] == "+79991234567"
    consents = stand.consents()
    assert consents["medical_intervention"] == ("electronic", "in_signing")
    assert consents["personal_data"] == ("electronic", "in_signing")
    row = stand.notification()
    assert row is not None and (row.choice, row.signing_request_id) == ("sign", request["id"])

    # The platform delivers the very same update again (a redelivery, a re-read batch).
    updates_before = stand.count(MaxUpdateRow)
    assert stand.ingest(first) is False
    assert stand.ingest(second) is False
    stand.work()
    assert stand.count(MaxUpdateRow) == updates_before
    assert len(stand.toasts(invited.user_id)) == 2
    assert len(stand.signing_requests()) == 1 and len(stand.transactions()) == 1
    assert stand.stats()["callbacks_answered"] == 2


def test_the_same_press_ingested_twice_is_stored_and_handled_once(stand: BotStand) -> None:
    invited = invite(stand)
    update = stand.press(invited.user_id, invited.mid, invited.sign)
    assert stand.ingest(update) is True  # arrives first by another path
    stand.work()  # then the queue delivers it again
    assert len([i for i in stand.items(UPDATE_KIND)]) == 2  # «аккаунт привязан» + the press
    assert stand.toasts(invited.user_id) == [bot.SIGNING_STARTED_TOAST]
    assert len(stand.signing_requests()) == 1 and len(stand.transactions()) == 1


def test_sign_in_the_clinic_moves_the_documents_to_paper(stand: BotStand) -> None:
    invited = invite(stand)
    stand.press(invited.user_id, invited.mid, invited.paper)
    stand.work()
    assert stand.toasts(invited.user_id) == [bot.PAPER_TOAST]
    message = stand.invitation(invited.user_id)
    assert message["text"] == bot.after_paper(VISIT, "Europe/Moscow")
    assert f"приём {bot.when(VISIT, 'Europe/Moscow')}" in message["text"]
    assert message["keyboard"] is None
    assert stand.consents() == {"medical_intervention": ("paper", "pending"),
                                "personal_data": ("paper", "pending"),
                                "paid_services_contract": ("paper", "pending")}
    assert stand.signing_requests() == [] and stand.transactions() == []
    assert stand.notification().choice == "paper"  # type: ignore[union-attr]

    # A late «sign» for the same invitation (replayed or crafted) is only told it is too late.
    stand.ingest(stand.forge_callback(invited.user_id, invited.mid, invited.sign))
    stand.work()
    assert stand.toasts(invited.user_id) == [bot.PAPER_TOAST, bot.ALREADY_CHOSEN]
    assert stand.signing_requests() == [] and stand.transactions() == []
    assert stand.invitation(invited.user_id)["text"] == message["text"]


def assert_nothing_changed(stand: BotStand, invited: Invited) -> None:
    message = stand.invitation(invited.user_id)
    assert "у вас приём" in message["text"] and not message["edited"]
    assert len(message["keyboard"][0]) == 2
    assert stand.signing_requests() == [] and stand.transactions() == []
    assert stand.consents() == INITIAL_CONSENTS
    row = stand.notification()
    assert row is not None and (row.state, row.choice) == ("sent", None)


def test_a_foreign_payload_gets_a_polite_toast_and_nothing_else(stand: BotStand) -> None:
    invited = invite(stand)
    for payload in ("picture", "menu:main", "sign", "sign:", "approve:" + invited.token,
                    "sign:" + invited.token + ":x"):
        stand.ingest(stand.forge_callback(invited.user_id, invited.mid, payload))
    stand.work_until(lambda: len(stand.toasts(invited.user_id)) >= 6)
    assert stand.toasts(invited.user_id) == [bot.STALE_BUTTON] * 6
    assert_nothing_changed(stand, invited)


def test_a_burst_of_presses_in_one_chat_keeps_to_maxs_per_chat_answer_limit(
        stand: BotStand) -> None:
    # MAX answers at most 2 callbacks per second in one chat; the worker answering eight
    # presses of one patient at once must pace itself instead of collecting 429s.
    invited = invite(stand)
    for _ in range(8):
        stand.ingest(stand.forge_callback(invited.user_id, invited.mid, "picture"))
    stand.work()
    stats = stand.stats()
    assert stats["too_many_requests"] == 0, stats["too_many_requests_by_limit"]
    assert stats["callbacks_answered"] == 8


def test_a_forged_token_gets_a_polite_toast_and_nothing_else(stand: BotStand) -> None:
    invited = invite(stand)
    for choice in ("sign", "paper"):
        stand.ingest(stand.forge_callback(invited.user_id, invited.mid,
                                          f"{choice}:{secrets.token_urlsafe(24)}"))
    stand.work()
    assert stand.toasts(invited.user_id) == [bot.STALE_BUTTON] * 2
    assert_nothing_changed(stand, invited)


def test_someone_elses_press_on_the_patients_token_is_refused(stand: BotStand) -> None:
    invited = invite(stand)
    stranger = stand.new_user("Пётр Чужой", "+79990000999", start=True)
    stand.work()
    stand.ingest(stand.forge_callback(stranger, invited.mid, invited.sign))
    stand.work()
    assert stand.toasts(stranger) == [bot.STALE_BUTTON]
    assert stand.toasts(invited.user_id) == []
    assert_nothing_changed(stand, invited)


def test_an_expired_button_is_refused(stand: BotStand) -> None:
    invited = invite(stand)
    row = stand.notification()
    assert row is not None and row.token_expires_at == VISIT + timedelta(hours=48)
    stand.set_time(row.token_expires_at + timedelta(seconds=1))
    stand.press(invited.user_id, invited.mid, invited.sign)  # the button is still on screen
    stand.work()
    assert stand.toasts(invited.user_id) == [bot.STALE_BUTTON]
    assert_nothing_changed(stand, invited)


def test_a_press_that_cannot_be_read_is_ignored(stand: BotStand) -> None:
    invited = invite(stand)
    forged = stand.forge_callback(invited.user_id, invited.mid, invited.sign)
    del forged["callback"]["callback_id"]
    stand.ingest(forged)
    stand.ingest({"update_type": "message_callback", "timestamp": 1})
    stand.ingest({"update_type": "something_new", "timestamp": 1, "x": [1, 2]})
    stand.work()
    assert stand.toasts(invited.user_id) == []
    assert_nothing_changed(stand, invited)
    assert {i.status for i in stand.items(UPDATE_KIND)} == {"done"}


def test_a_press_after_the_doctor_already_started_signing(stand: BotStand) -> None:
    invited = invite(stand)
    r = stand.api.post("/api/v1/organizations/mo1/appointments/a1/signing-requests")
    assert r.status_code == 201, r.text
    stand.press(invited.user_id, invited.mid, invited.sign)
    stand.work()
    [toast] = stand.toasts(invited.user_id)
    assert toast != bot.SIGNING_STARTED_TOAST
    assert len(stand.signing_requests()) == 1 and len(stand.transactions()) == 1
