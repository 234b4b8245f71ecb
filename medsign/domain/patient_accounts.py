"""Rules of patient password accounts that the portal's administrator manages (seed 2.2).

- a login name is 2–64 characters of Latin letters, digits, ``.``, ``_``, ``-`` and is
  compared without case (stored folded); it can never look like an e-mail address, so «login
  or e-mail» on the login form names one account at most;
- an e-mail address is stored folded too and is unique among accounts;
- the person's details an administrator types (checked against their documents) are turned
  into the identity that :func:`medsign.domain.identity.same_person` reads — the same rule as
  for ESIA: the records it accepts are linked, nothing else. Without a СНИЛС the rule needs
  the confirmed mobile number, so one of the two is required;
- a password reset link is valid once, until it expires, for an account that is not disabled.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from medsign.domain.errors import DomainError
from medsign.domain.identity import EsiaIdentity
from medsign.domain.login_limits import DelayRule
from medsign.domain.phones import normalize_phone
from medsign.domain.snils import normalize_snils

LOGIN_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
EMAIL_PATTERN = re.compile(r"^[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+$")
EMAIL_MAX = 254
NAME_MAX = 100

# Reset requests: by the name typed (login or e-mail, existing or not — the answer must not
# tell) and by the client's address. A patient who asks twice never waits; a script mailing
# someone's inbox full does, ever longer.
RESET_PER_NAME = DelayRule(free=3, base=timedelta(minutes=1), cap=timedelta(hours=1),
                           forget=timedelta(hours=6))
RESET_PER_ADDRESS = DelayRule(free=10, base=timedelta(minutes=1), cap=timedelta(hours=1),
                              forget=timedelta(hours=6))


def normalize_login(raw: str) -> str:
    login = raw.strip().casefold()
    if not LOGIN_PATTERN.fullmatch(login):
        raise DomainError("invalid_login", "Логин: от 2 до 64 символов — латинские буквы, "
                          "цифры, точка, дефис, подчёркивание.", field="login")
    return login


def normalize_email(raw: str | None) -> str | None:
    """The address folded, or None when empty; ``DomainError`` when it is not an address."""
    email = (raw or "").strip().casefold()
    if not email:
        return None
    if len(email) > EMAIL_MAX or not EMAIL_PATTERN.fullmatch(email):
        raise DomainError("invalid_email", "Электронная почта записана неверно (пример: "
                          "ivanova@example.ru).", field="email")
    return email


@dataclass(frozen=True)
class PersonDetails:
    """What the administrator types from the person's documents."""

    last_name: str
    first_name: str
    middle_name: str | None
    birth_date: date | None
    snils: str | None
    phone: str | None  # the mobile number the administrator confirmed (e.g. by a code)


def person_identity(details: PersonDetails) -> EsiaIdentity:
    """The identity :func:`~medsign.domain.identity.same_person` compares records with.

    The administrator vouches for it (``trusted``) as ESIA vouches for a confirmed account."""
    last, first = details.last_name.strip(), details.first_name.strip()
    middle = (details.middle_name or "").strip() or None
    if not last or not first:
        raise DomainError("invalid_person", "Укажите фамилию и имя.", field="last_name")
    if max(len(last), len(first), len(middle or "")) > NAME_MAX:
        raise DomainError("invalid_person", f"Фамилия, имя и отчество — до {NAME_MAX} "
                          "символов каждое.", field="last_name")
    if details.birth_date is None:
        raise DomainError("invalid_person", "Укажите дату рождения.", field="birth_date")
    snils_text, phone_text = (details.snils or "").strip(), (details.phone or "").strip()
    snils = normalize_snils(snils_text) if snils_text else None
    phone = normalize_phone(phone_text) if phone_text else None
    if snils is None and phone is None:
        raise DomainError("invalid_person", "Укажите СНИЛС или подтверждённый номер мобильного "
                          "телефона: без них карту пациента не сопоставить.", field="snils")
    return EsiaIdentity(last_name=last, first_name=first, middle_name=middle,
                        birth_date=details.birth_date, snils=snils, verified_phone=phone,
                        trusted=True)


def reset_link_refusal(*, expires_at: datetime, used_at: datetime | None,
                       account_disabled: bool, now: datetime) -> str | None:
    """Why a reset link cannot set a password (for the patient), or None when it can."""
    if used_at is not None:
        return "Ссылка уже использована. Если нужно, запросите новую."
    if now >= expires_at:
        return "Срок действия ссылки истёк. Запросите новую."
    if account_disabled:
        return "Учётная запись отключена. Обратитесь в клинику."
    return None
