"""What the MAX bot says, and how its buttons are named — pure functions, no I/O.

Button payloads are ``<choice>:<token>``: the token is unguessable and belongs to one
appointment's notification, so a payload cannot be forged for another patient, and it
stops working when the notification expires.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from medsign.domain.consents import ConsentKind
from medsign.domain.signing import SigningState

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
    if not raw or raw.count(":") != 1:
        return None
    choice, token = raw.split(":")
    if choice not in Choice.__members__ or not token:
        return None
    return Choice(choice), token


def when(moment: datetime, timezone: str) -> str:
    """«27 ноября в 10:00» in the MO's own time zone."""
    local = moment.astimezone(ZoneInfo(timezone))
    return f"{local.day} {_MONTHS[local.month - 1]} в {local:%H:%M}"


def _documents(kinds: Sequence[ConsentKind]) -> str:
    return "\n".join(f"• {kind.title}" for kind in kinds)


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
    return ("Спасибо! Документы отправлены на подписание:\n"
            f"{_documents(kinds)}\n\n"
            "Откройте чат-бот «Госключ» в MAX — документы появятся там в течение нескольких "
            "минут. Подпишите их до начала приёма.")


def after_paper(starts_at: datetime, timezone: str) -> str:
    return ("Хорошо, документы вы подпишете на бумаге в клинике. Пожалуйста, приходите на "
            f"10–15 минут раньше: приём {when(starts_at, timezone)}.")


STALE_BUTTON = "Эта кнопка больше не действует. Если нужна помощь — обратитесь в клинику."
ALREADY_CHOSEN = "Ваш выбор уже принят."
SIGNING_STARTED_TOAST = "Документы отправлены в Госключ"
SIGNING_ALREADY_OPEN = ("Подписание документов по этой записи уже начато. Если нужна помощь — "
                        "обратитесь в клинику.")
PAPER_TOAST = "Подпишете в клинике"


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


def outcome(state: SigningState, *, kinds: Sequence[ConsentKind], reason: str | None) -> str:
    """The final message about a signing transaction."""
    if state is SigningState.completed:
        return ("Готово: документы подписаны.\n"
                f"{_documents(kinds)}\n\nПодписанные документы хранятся в клинике. Ждём вас "
                "на приёме!")
    if state is SigningState.expired:
        return ("Срок онлайн-подписания истёк: документы не были подписаны до приёма. "
                "Подпишите их на бумаге в клинике.")
    if state is SigningState.signer_mismatch:
        return ("Онлайн-подписание остановлено: в Госуслугах документы подписал человек, чьи "
                "данные не совпадают с вашими данными в клинике. Клиника проверит данные и "
                "свяжется с вами; документы можно подписать в клинике.")
    if state is SigningState.cancelled:
        return (f"Подписание отменено{': ' + reason if reason else ''}. Если документы всё ещё "
                "нужны, их можно подписать в клинике.")
    return ("Не удалось завершить онлайн-подписание из-за технической ошибки. Документы можно "
            "подписать в клинике; мы уже разбираемся с проблемой.")


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
