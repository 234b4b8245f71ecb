"""What the MAX bot says, and how its buttons are named — pure functions, no I/O.

Everything here is read by the patient: plain Russian, documents by their patient-facing
names (``ConsentKind.patient_title``, no abbreviations), and no staff reasons or logins —
how a signing ended is told by the kind of its end (``PatientNotice``), never by its reason.

Button payloads are ``<choice>:<token>``: the token is unguessable and belongs to one
appointment's notification, so a payload cannot be forged for another patient, and it
stops working when the notification expires.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from enum import StrEnum
from typing import TypeVar
from zoneinfo import ZoneInfo

from medsign.domain.consents import ConsentKind
from medsign.domain.patient_choice import Outcome
from medsign.domain.signing import PatientNotice

E = TypeVar("E", bound=StrEnum)

_MONTHS = ("января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа",
           "сентября", "октября", "ноября", "декабря")
SIGN_BUTTON = "Подписать онлайн"
PAPER_BUTTON = "Подпишу в клинике"
GOSKEY_BUTTON = "Открыть Госключ"


class Choice(StrEnum):
    sign = "sign"
    paper = "paper"


def payload(choice: Choice, token: str) -> str:
    return f"{choice.value}:{token}"


def parse_payload(raw: str | None) -> tuple[Choice, str] | None:
    """The choice and token of a button payload, or None for anything we did not make."""
    return _parse(raw, Choice)


def _parse(raw: str | None, kind: type[E]) -> tuple[E, str] | None:
    """``<value>:<token>`` with a value of ``kind`` and a non-empty token, or None."""
    if not raw or raw.count(":") != 1:
        return None
    value, token = raw.split(":")
    if value not in {member.value for member in kind} or not token:
        return None
    return kind(value), token


def when(moment: datetime, timezone: str) -> str:
    """«27 ноября в 10:00» in the MO's own time zone."""
    local = moment.astimezone(ZoneInfo(timezone))
    return f"{local.day} {_MONTHS[local.month - 1]} в {local:%H:%M}"


def _documents(kinds: Sequence[ConsentKind]) -> str:
    return "\n".join(f"• {kind.patient_title}" for kind in kinds)


def _greeting(first_name: str, middle_name: str | None) -> str:
    return f"Здравствуйте, {first_name}{' ' + middle_name if middle_name else ''}!"


def invitation(*, first_name: str, middle_name: str | None, starts_at: datetime,
               timezone: str, service: str, doctor: str, organization: str,
               kinds: Sequence[ConsentKind]) -> str:
    return (f"{_greeting(first_name, middle_name)}\n\n"
            f"{when(starts_at, timezone)} у вас приём: {service}, врач {doctor}, "
            f"{organization}.\n\n"
            f"Перед приёмом нужно подписать документы:\n{_documents(kinds)}\n\n"
            "Их можно подписать онлайн в Госключе прямо в MAX — тогда не нужно приходить "
            "заранее. Или подпишите их на бумаге в клинике.")


def after_sign(kinds: Sequence[ConsentKind]) -> str:
    """The invitation after «Подписать онлайн»: nothing has reached Госключ yet, so this only
    promises the next message (``documents_sent``)."""
    return ("Спасибо! Готовим документы к подписанию:\n"
            f"{_documents(kinds)}\n\n"
            "Когда они появятся в Госключе, мы сразу напишем вам здесь.")


def documents_sent(kinds: Sequence[ConsentKind]) -> str:
    """Sent once the platform has accepted the transaction (the request is ``sent``)."""
    return ("Документы отправлены в Госключ:\n"
            f"{_documents(kinds)}\n\n"
            "Откройте чат-бот «Госключ» в MAX и подпишите их до начала приёма.")


def signed_copy(title: str, *, number: int, count: int) -> str:
    """The caption of one signed document sent into the patient's chat as a PDF file (one
    file per message: MAX allows a file only as the sole attachment). The first says why."""
    line = title if count == 1 else f"Документ {number} из {count}: {title}"
    if number == 1:
        return ("Ваш экземпляр подписанных документов — сохраните его себе.\n\n" + line
                if count == 1 else
                "Ваши экземпляры подписанных документов — сохраните их себе.\n\n" + line)
    return line


def after_paper(starts_at: datetime, timezone: str) -> str:
    return ("Хорошо, документы вы подпишете на бумаге в клинике. Пожалуйста, приходите на "
            f"10–15 минут раньше: приём {when(starts_at, timezone)}.")


STALE_BUTTON = "Эта кнопка больше не действует. Если нужна помощь — обратитесь в клинику."
ALREADY_CHOSEN = "Ваш выбор уже принят."
SIGNING_STARTED_TOAST = "Готовим документы к подписанию…"
SIGNING_ALREADY_OPEN = ("Подписание документов по этой записи уже начато. Если нужна помощь — "
                        "обратитесь в клинику.")
PAPER_TOAST = "Подпишете в клинике"
# The clinic cannot counter-sign online just now (its own signature is unavailable): nothing
# the patient did or can fix, so no reasons — only what they can do.
# Why «Подписать онлайн» did not start, in the patient's words: the service's own messages
# are written for staff (codes, field names) and never reach the patient.
_START_REFUSED = {
    "appointment_cancelled": "Эта запись к врачу отменена — подписывать документы не нужно.",
    "no_electronic_consents": ("Документы к этой записи подписываются только в клинике. "
                               "Пожалуйста, приходите на приём на 10–15 минут раньше."),
    "consent_not_signable": ("Документы к этой записи подписываются только в клинике. "
                             "Пожалуйста, приходите на приём на 10–15 минут раньше."),
    "signing_request_active": SIGNING_ALREADY_OPEN,
}
START_FAILED = ("Не получилось начать подписание. Попробуйте ещё раз позже или подпишите "
                "документы в клинике перед приёмом.")


def start_refused(code: str) -> str:
    """What the patient is told when signing could not start for ``code``."""
    return _START_REFUSED.get(code, START_FAILED)


SIGNING_ONLINE_UNAVAILABLE_TOAST = "Сейчас подписать онлайн не получится"
SIGNING_ONLINE_UNAVAILABLE = (
    "К сожалению, сейчас подписать документы онлайн не получится. Вы ничего не сделали "
    "неправильно. Документы можно подписать в клинике перед приёмом — пожалуйста, приходите "
    f"на 10–15 минут раньше. Можно также нажать «{SIGN_BUTTON}» ещё раз позже.")


def rescheduled(invitation_text: str) -> str:
    return "Время приёма изменилось.\n\n" + invitation_text


def moved(old_start: datetime, new_start: datetime, timezone: str, *,
          invited_again: bool) -> str:
    """The edit of an invitation whose visit moved: its buttons are gone with this text."""
    then = ("Новое приглашение подписать документы придёт отдельным сообщением."
            if invited_again else "Документы можно подписать в клинике перед приёмом.")
    return (f"Приём перенесён: был назначен на {when(old_start, timezone)}, теперь — "
            f"{when(new_start, timezone)}. Кнопки в этом сообщении больше не действуют. {then}")


def appointment_cancelled(starts_at: datetime, timezone: str) -> str:
    return (f"Приём {when(starts_at, timezone)} отменён клиникой. Подписывать документы не "
            "нужно.")


def linked(full_name: str) -> str:
    return (f"Аккаунт MAX привязан к медицинской карте пациента {full_name}. Накануне приёма "
            "мы напомним о нём и предложим подписать документы онлайн.")


LINK_FAILED = ("Ссылка для привязки недействительна или устарела. Получите новую ссылку на "
               "портале или поделитесь номером телефона.")
CONTACT_NOT_FOUND = ("Мы не нашли пациента с этим номером телефона. Проверьте номер в "
                     "клинике или привяжите аккаунт по ссылке с портала.")


def outcome(notice: PatientNotice, *, kinds: Sequence[ConsentKind]) -> str:
    """The message an event owes the patient, by its kind (``medsign.domain.signing``)."""
    return _NOTICE_TEXTS[notice](kinds)


_IN_CLINIC = "Если документы всё ещё нужны, их можно подписать на бумаге в клинике."
_NOTICE_TEXTS: dict[PatientNotice, Callable[[Sequence[ConsentKind]], str]] = {
    PatientNotice.documents_sent: documents_sent,
    PatientNotice.signed: lambda kinds: (
        f"Готово: документы подписаны.\n{_documents(kinds)}\n\nПодписанные документы "
        "хранятся в клинике. Ждём вас на приёме!"),
    PatientNotice.refused: lambda kinds: (
        "Вы отказались подписывать документы в Госключе, онлайн-подписание завершено. "
        + _IN_CLINIC),
    PatientNotice.cancelled_by_clinic: lambda kinds: (
        f"Клиника отменила онлайн-подписание документов:\n{_documents(kinds)}\n\n"
        "Подписывать их в Госключе не нужно. Если у вас есть вопросы, обратитесь в клинику."),
    PatientNotice.appointment_cancelled: lambda kinds: (
        "Приём отменён клиникой, поэтому подписывать документы не нужно."),
    PatientNotice.expired: lambda kinds: (
        "Срок онлайн-подписания истёк: документы не были подписаны до приёма. "
        "Подпишите их на бумаге в клинике."),
    PatientNotice.platform_error: lambda kinds: (
        "Госключ не смог обработать документы, поэтому онлайн-подписание не состоялось. "
        "Подпишите их, пожалуйста, на бумаге в клинике."),
    PatientNotice.technical_failure: lambda kinds: (
        "Не удалось завершить онлайн-подписание из-за технической ошибки. Документы можно "
        "подписать в клинике; мы уже разбираемся с проблемой."),
    PatientNotice.signer_mismatch: lambda kinds: (
        "Онлайн-подписание остановлено: документы в Госключе подписал человек, чьи данные не "
        "совпадают с вашими данными в клинике. Клиника проверит данные и свяжется с вами; "
        "документы можно подписать на бумаге в клинике."),
    PatientNotice.stopped: lambda kinds: (
        "Онлайн-подписание документов остановлено. " + _IN_CLINIC
        + " Если у вас есть вопросы, обратитесь в клинику."),
}


SHARE_CONTACT_BUTTON = "Поделиться номером телефона"
PHONE_NEEDED_TOAST = "Нужен номер телефона"
SHARE_CONTACT_TO_SIGN = ("Чтобы подписать документы онлайн, нужен ваш номер телефона: по нему "
                         "Госключ находит документы для подписания. Нажмите «"
                         f"{SHARE_CONTACT_BUTTON}» ниже.")
PHONE_SAVED = "Спасибо, номер телефона сохранён."
PHONE_SAVED_SIGN = ("Спасибо, номер телефона сохранён. Теперь документы можно подписать онлайн: "
                    f"нажмите «{SIGN_BUTTON}».")
PHONE_UNUSABLE = ("Этот номер телефона не подходит для подписания онлайн: нужен российский "
                  "номер. Документы можно подписать в клинике.")
WELCOME_UNKNOWN = ("Здравствуйте! Это бот записи к врачу. Чтобы получать напоминания о приёмах и "
                   "подписывать документы онлайн, привяжите аккаунт по ссылке с портала или "
                   "поделитесь номером телефона, с которым вы записаны в клинику.")

# -- replacing the MAX account of a patient ------------------------------------------------
# Asked in the chat of the account linked now; only its «Да» moves the link (``max_links``).
RELINK_YES_BUTTON = "Да, привязать новый аккаунт"
RELINK_NO_BUTTON = "Нет"


class RelinkAnswer(StrEnum):
    yes = "relink_yes"
    no = "relink_no"


def relink_payload(answer: RelinkAnswer, token: str) -> str:
    return f"{answer.value}:{token}"


def parse_relink_payload(raw: str | None) -> tuple[RelinkAnswer, str] | None:
    """The answer and token of a confirmation button, or None for any other payload."""
    return _parse(raw, RelinkAnswer)


def relink_question(full_name: str) -> str:
    return (f"Кто-то хочет привязать другой аккаунт MAX к медицинской карте пациента "
            f"{full_name}. Сейчас напоминания о приёмах и документы на подпись приходят в этот "
            "аккаунт.\n\nЕсли это вы (например, у вас новый телефон или аккаунт), нажмите "
            f"«{RELINK_YES_BUTTON}». Если вы этого не делали, нажмите «{RELINK_NO_BUTTON}» — "
            "всё останется как есть.")


RELINK_WAIT = ("К этой медицинской карте уже привязан другой аккаунт MAX. Мы отправили в него "
               "запрос: аккаунт сменится, когда там подтвердят смену. Если доступа к тому "
               "аккаунту у вас нет, обратитесь в клинику.")
RELINK_DONE_OLD = ("Готово: медицинская карта привязана к новому аккаунту MAX. Напоминания о "
                   "приёмах и документы на подпись будут приходить туда, а не сюда.")
RELINK_KEPT_OLD = ("Хорошо, ничего не меняем: напоминания о приёмах и документы на подпись "
                   "по-прежнему приходят в этот аккаунт.")
RELINK_DECLINED = ("Смену аккаунта MAX не подтвердили, поэтому привязка не изменилась. Если это "
                   "ошибка, обратитесь в клинику.")
RELINK_YES_TOAST = "Аккаунт сменён"
RELINK_NO_TOAST = "Привязка не изменилась"


# -- the same choice on the patient's pages (app «К врачу» and portal) -----------------------
PAGE_PHONE_NEEDED = ("Чтобы подписать документы онлайн, нужен ваш номер телефона: по нему "
                     "Госключ находит документы для подписания. Сообщите номер в регистратуре "
                     "клиники или поделитесь им в чате с ботом MAX. Документы можно подписать и "
                     "на бумаге в клинике.")
PAGE_NOTHING_TO_CHOOSE = ("По этой записи нет документов, которые ждут вашего решения. Если "
                          "нужна помощь — обратитесь в клинику.")
GOSKEY_INSTRUCTION = ("Документы ждут вашей подписи в Госключе. Нажмите «" + GOSKEY_BUTTON
                      + "»: откроется чат-бот «Госключ» в MAX. Подпишите документы там до "
                      "начала приёма.")
PAPER_QUESTION = ("Документы по этой записи вы подпишете на бумаге в клинике, а подписать их "
                  "онлайн будет уже нельзя.")


def choice_refused(outcome: Outcome, code: str | None) -> str:
    """Why the patient's choice on a page did nothing, in their words (never the reason)."""
    if outcome is Outcome.phone_missing:
        return PAGE_PHONE_NEEDED
    if outcome is Outcome.unavailable:
        return SIGNING_ONLINE_UNAVAILABLE
    if outcome is Outcome.already_started:
        return SIGNING_ALREADY_OPEN
    if outcome in (Outcome.nothing_pending, Outcome.already_chosen):
        return PAGE_NOTHING_TO_CHOOSE
    return start_refused(code or "")
