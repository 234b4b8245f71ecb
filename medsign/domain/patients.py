"""Patients as the МИС knows them: identity (with the optional СНИЛС), contact phone and MAX
account."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Self

from medsign.domain._checks import require_text
from medsign.domain.errors import DomainError
from medsign.domain.phones import normalize_phone
from medsign.domain.snils import normalize_snils

EARLIEST_BIRTH_DATE = date(1900, 1, 1)

# Letters (Cyrillic with Ё, or Latin) in words joined by a single hyphen,
# space or apostrophe: "Анна-Мария", "д'Артаньян", "Мамед оглы".
_NAME = re.compile(r"[A-Za-zА-Яа-яЁё]+(?:[- '’][A-Za-zА-Яа-яЁё]+)*")
_NAME_LABELS = {"last_name": "Фамилия", "first_name": "Имя", "middle_name": "Отчество"}


def validate_name(value: str, field: str) -> str:
    """Check one part of a person's name (``field`` is ``last_name`` etc.); return it."""
    label = _NAME_LABELS.get(field, field)
    require_text(value, field, label)
    if not _NAME.fullmatch(value):
        raise DomainError(
            "invalid_name",
            f"Поле «{label}» может содержать только буквы (кириллица или латиница), "
            "дефис, пробел и апостроф.",
            field,
        )
    return value


def validate_birth_date(birth_date: date, today: date) -> date:
    """A birth date between 1900-01-01 and ``today`` inclusive; return it."""
    if birth_date < EARLIEST_BIRTH_DATE:
        problem = "раньше 1900 года"
    elif birth_date > today:
        problem = "в будущем"
    else:
        return birth_date
    raise DomainError(
        "invalid_birth_date",
        f"Дата рождения {birth_date:%d.%m.%Y} {problem}: проверьте дату.",
        "birth_date",
    )


@dataclass
class Patient:
    """A patient; construct new ones with ``Patient.create``, which cleans the input.

    The constructor itself only checks invariants (it is also how stored
    patients are rebuilt), so it needs no clock: "not in the future" is checked
    by ``create``, which is given ``today``.
    """

    external_id: str
    organization_code: str
    last_name: str
    first_name: str
    middle_name: str | None
    birth_date: date
    phone: str | None
    max_user_id: int | None
    max_reachable: bool = True
    snils: str | None = None  # 11 digits, check digits verified (``domain.snils``)

    def __post_init__(self) -> None:
        require_text(self.external_id, "external_id", "Идентификатор пациента")
        require_text(self.organization_code, "organization_code", "Код МО")
        validate_name(self.last_name, "last_name")
        validate_name(self.first_name, "first_name")
        if self.middle_name is not None:
            validate_name(self.middle_name, "middle_name")
        validate_birth_date(self.birth_date, date.max)
        self._check_phone_is_normalized()
        if self.snils is not None and normalize_snils(self.snils) != self.snils:
            raise DomainError("invalid_snils", "СНИЛС пациента должен храниться как 11 цифр.",
                              "snils")
        if self.max_user_id is not None and self.max_user_id <= 0:
            raise DomainError(
                "invalid_max_user_id",
                "Идентификатор пользователя MAX должен быть положительным.",
                "max_user_id",
            )

    @classmethod
    def create(
        cls,
        *,
        external_id: str,
        organization_code: str,
        last_name: str,
        first_name: str,
        middle_name: str | None = None,
        birth_date: date,
        phone: str | None = None,
        max_user_id: int | None = None,
        max_reachable: bool = True,
        snils: str | None = None,
        today: date,
    ) -> Self:
        """A new patient from raw input: names trimmed, blanks as None, phone and СНИЛС
        normalized."""
        return cls(
            external_id=external_id.strip(),
            organization_code=organization_code.strip(),
            last_name=last_name.strip(),
            first_name=first_name.strip(),
            middle_name=(middle_name or "").strip() or None,
            birth_date=validate_birth_date(birth_date, today),
            phone=normalize_phone(phone) if phone and phone.strip() else None,
            max_user_id=max_user_id,
            max_reachable=max_reachable,
            snils=normalize_snils(snils) if snils and snils.strip() else None,
        )

    @property
    def full_name(self) -> str:
        """The name as documents and doctors write it: «Фамилия Имя Отчество»."""
        return " ".join(p for p in (self.last_name, self.first_name, self.middle_name) if p)

    @property
    def reachable_in_max(self) -> bool:
        """The bot can write to this patient (linked, and has not blocked the bot)."""
        return self.max_user_id is not None and self.max_reachable

    def _check_phone_is_normalized(self) -> None:
        if self.phone is not None and normalize_phone(self.phone) != self.phone:
            raise DomainError(
                "invalid_phone",
                "Телефон пациента должен храниться в виде +7XXXXXXXXXX.",
                "phone",
            )
