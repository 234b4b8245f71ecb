"""What the patient reads: Russian texts, with dates and times in the MO's own time zone."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from medsign.domain import bot
from medsign.domain.consents import ConsentKind
from medsign.domain.signing import PatientNotice

# 20:00 UTC on 26 November: already the 27th in Vladivostok (UTC+10), still the 26th in
# Kaliningrad (UTC+2), 23:00 in Moscow.
EVENING_UTC = datetime(2026, 11, 26, 20, 0, tzinfo=UTC)
KINDS = [ConsentKind.medical_intervention, ConsentKind.personal_data]
PLATFORM_TEXT_LIMIT = 4000


@pytest.mark.parametrize(("tz", "expected"), [
    ("Asia/Vladivostok", "27 ноября в 06:00"),
    ("Europe/Kaliningrad", "26 ноября в 22:00"),
    ("Europe/Moscow", "26 ноября в 23:00"),
    ("Asia/Kamchatka", "27 ноября в 08:00"),
    ("Europe/Samara", "27 ноября в 00:00"),
])
def test_the_moment_is_told_in_the_organisations_time_zone(tz: str, expected: str) -> None:
    assert bot.when(EVENING_UTC, tz) == expected


@pytest.mark.parametrize(("month", "name"), list(enumerate(
    ["января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа", "сентября",
     "октября", "ноября", "декабря"], start=1)))
def test_every_month_is_in_the_genitive(month: int, name: str) -> None:
    moment = datetime(2027, month, 5, 6, 7, tzinfo=UTC)
    assert bot.when(moment, "UTC") == f"5 {name} в 06:07"


def test_the_invitation_names_the_visit_and_the_documents_in_local_time() -> None:
    text = bot.invitation(first_name="Мария", middle_name="Петровна", starts_at=EVENING_UTC,
                          timezone="Asia/Vladivostok", service="Приём врача-терапевта",
                          doctor="Петрова А. С.", organization="ГБУЗ «Поликлиника № 1»",
                          kinds=KINDS)
    assert text.startswith("Здравствуйте, Мария Петровна!")
    assert ("27 ноября в 06:00 у вас приём: Приём врача-терапевта, врач Петрова А. С., "
            "ГБУЗ «Поликлиника № 1».") in text
    assert "• Согласие на медицинское вмешательство\n• Согласие на обработку персональных " \
        "данных" in text
    assert "Договор" not in text
    assert "Госключе" in text and "на бумаге в клинике" in text
    assert len(text) <= PLATFORM_TEXT_LIMIT


def test_the_invitation_without_a_middle_name_and_in_another_zone() -> None:
    text = bot.invitation(first_name="Ольга", middle_name=None, starts_at=EVENING_UTC,
                          timezone="Europe/Kaliningrad", service="УЗИ", doctor="Иванов И. И.",
                          organization="МО", kinds=[ConsentKind.paid_services_contract])
    assert text.startswith("Здравствуйте, Ольга!")
    assert "26 ноября в 22:00 у вас приём" in text
    assert "• Договор на оказание платных медицинских услуг" in text


def test_after_the_sign_button_nothing_is_claimed_to_be_in_goskey_yet() -> None:
    text = bot.after_sign(KINDS)
    assert text.startswith("Спасибо! Готовим документы к подписанию")
    assert "• Согласие на медицинское вмешательство" in text
    assert "отправлены" not in text and "отправлены" not in bot.SIGNING_STARTED_TOAST
    assert "мы сразу напишем" in text


def test_once_the_platform_accepted_them_the_documents_are_in_goskey() -> None:
    text = bot.outcome(PatientNotice.documents_sent, kinds=KINDS)
    assert text == bot.documents_sent(KINDS)
    assert text.startswith("Документы отправлены в Госключ")
    assert "• Согласие на медицинское вмешательство" in text and "до начала приёма" in text


def test_after_the_paper_button_the_visit_time_is_local() -> None:
    assert "приём 27 ноября в 06:00" in bot.after_paper(EVENING_UTC, "Asia/Vladivostok")
    assert "приём 26 ноября в 22:00" in bot.after_paper(EVENING_UTC, "Europe/Kaliningrad")
    assert "на бумаге в клинике" in bot.after_paper(EVENING_UTC, "Europe/Moscow")


def test_rescheduled_and_cancelled() -> None:
    assert bot.rescheduled("ПРИГЛАШЕНИЕ") == "Время приёма изменилось.\n\nПРИГЛАШЕНИЕ"
    cancelled = bot.appointment_cancelled(EVENING_UTC, "Asia/Vladivostok")
    assert cancelled.startswith("Приём 27 ноября в 06:00 отменён клиникой.")
    assert "Подписывать документы не нужно" in cancelled


def test_linking_texts() -> None:
    assert "Иванов Иван Иванович" in bot.linked("Иванов Иван Иванович")
    assert "недействительна" in bot.LINK_FAILED
    assert "не нашли пациента" in bot.CONTACT_NOT_FOUND
    assert "поделитесь номером телефона" in bot.WELCOME_UNKNOWN


def test_the_final_message_of_a_completed_signing_lists_the_documents() -> None:
    text = bot.outcome(PatientNotice.signed, kinds=KINDS)
    assert text.startswith("Готово: документы подписаны.")
    assert "• Согласие на медицинское вмешательство" in text


def test_the_final_message_of_an_expired_signing() -> None:
    text = bot.outcome(PatientNotice.expired, kinds=KINDS)
    assert text.startswith("Срок онлайн-подписания истёк")
    assert "на бумаге в клинике" in text


def test_every_kind_of_notice_has_a_text_of_its_own() -> None:
    texts = {notice: bot.outcome(notice, kinds=KINDS) for notice in PatientNotice}
    assert len(set(texts.values())) == len(PatientNotice)
    assert all(0 < len(t) <= PLATFORM_TEXT_LIMIT for t in texts.values())


def test_a_refusal_and_a_clinics_cancel_say_different_things() -> None:
    assert "Вы отказались" in bot.outcome(PatientNotice.refused, kinds=KINDS)
    assert "Клиника отменила" in bot.outcome(PatientNotice.cancelled_by_clinic, kinds=KINDS)
    assert "Приём отменён" in bot.outcome(PatientNotice.appointment_cancelled, kinds=KINDS)


@pytest.mark.parametrize("notice", [PatientNotice.technical_failure, PatientNotice.stopped])
def test_failures_and_unnamed_stops_blame_no_one_and_reveal_nothing(
        notice: PatientNotice) -> None:
    text = bot.outcome(notice, kinds=KINDS)
    assert "в клинике" in text
    assert not re.search(r"[A-Za-z_]", text)  # no codes, logins or state names


ABBREVIATIONS = re.compile(r"\b(ИДС|ПДн|ПЭП|МО|МИС|ЕСИА)\b")


def every_patient_text() -> list[str]:
    kinds = list(ConsentKind)
    return [
        bot.invitation(first_name="Мария", middle_name=None, starts_at=EVENING_UTC,
                       timezone="Europe/Moscow", service="Приём", doctor="Петрова А. С.",
                       organization="Поликлиника", kinds=kinds),
        bot.after_sign(kinds), bot.documents_sent(kinds),
        bot.after_paper(EVENING_UTC, "Europe/Moscow"),
        bot.appointment_cancelled(EVENING_UTC, "Europe/Moscow"), bot.linked("Иванова М. П."),
        bot.STALE_BUTTON, bot.ALREADY_CHOSEN, bot.SIGNING_STARTED_TOAST, bot.PAPER_TOAST,
        bot.LINK_FAILED, bot.CONTACT_NOT_FOUND, bot.WELCOME_UNKNOWN,
        *(bot.outcome(notice, kinds=kinds) for notice in PatientNotice)]


def test_no_patient_text_uses_an_abbreviation() -> None:
    for text in every_patient_text():
        assert not ABBREVIATIONS.search(text), text


def test_every_consent_kind_has_a_plain_name_for_patients() -> None:
    for kind in ConsentKind:
        assert kind.patient_title and not ABBREVIATIONS.search(kind.patient_title)
    assert ConsentKind.medical_intervention.patient_title == (
        "Согласие на медицинское вмешательство")


def test_toasts_are_short() -> None:
    # A toast is one line on a phone.
    for toast in (bot.STALE_BUTTON, bot.ALREADY_CHOSEN, bot.SIGNING_STARTED_TOAST,
                  bot.PAPER_TOAST):
        assert 0 < len(toast) <= 100


def test_a_signer_mismatch_is_explained_without_naming_anyone() -> None:
    text = bot.outcome(PatientNotice.signer_mismatch, kinds=KINDS)
    assert text.startswith("Онлайн-подписание остановлено")
    assert "можно подписать на бумаге в клинике" in text
    assert "Иванов" not in text and "ИДС" not in text  # no other person, no abbreviations
