"""Russian phone numbers in one canonical form: ``+7`` followed by ten digits.

The signing platform identifies the patient by phone, so two spellings of one
number must never look like two numbers, and a number the platform cannot
serve (a foreign one, a typo) is refused at the door with a message that says
what to fix.

Accepted spellings of the same number: ``+7 (999) 123-45-67``,
``8 999 123 45 67``, ``89991234567``, ``79991234567``, ``9991234567``, with
any spaces, dashes, dots and parentheses between the digits.
"""

from __future__ import annotations

import re

from medsign.domain.errors import DomainError

_EXAMPLE = "Ожидается российский номер: +7 и 10 цифр, например +7 999 123-45-67."
_SEPARATORS = frozenset(" \t\u00a0-.()")
_DIGITS = frozenset("0123456789")
# Russian ten-digit numbers start with 3xx, 4xx, 80x-87x or 9xx. Codes 6xx/7xx
# belong to Kazakhstan (which shares +7), and the rest are unassigned.
_RUSSIAN_NATIONAL = re.compile(r"(?:[349][0-9]|8[0-7])[0-9]{8}")


def normalize_phone(raw: str) -> str:
    """Return ``raw`` as ``+7XXXXXXXXXX`` or raise ``DomainError(invalid_phone)``."""
    text = raw.strip()
    if not text:
        raise _invalid("Номер телефона не указан.")
    _check_characters(text)
    digits = "".join(ch for ch in text if ch in _DIGITS)
    if not digits:
        raise _invalid("В номере телефона нет цифр.")
    national = _from_international(digits) if text.startswith("+") else _from_domestic(digits)
    return "+7" + national


def mask_phone(phone: str) -> str:
    """Hide all but the last four digits, for logs: ``+7******4567``. Never raises."""
    digits = "".join(ch for ch in phone if ch in _DIGITS)
    if len(digits) <= 4:
        return "*" * len(digits)
    if phone.startswith("+7") and len(digits) == 11:
        return "+7" + "*" * 6 + digits[-4:]
    return "*" * (len(digits) - 4) + digits[-4:]


def _check_characters(text: str) -> None:
    bad = sorted({ch for ch in text if ch not in _DIGITS and ch not in _SEPARATORS} - {"+"})
    if bad:
        shown = ", ".join(f"«{ch}»" for ch in bad)
        raise _invalid(
            f"Номер телефона содержит недопустимые символы: {shown}. "
            "Допустимы цифры, пробелы, дефисы, точки, скобки и «+» в начале."
        )
    if "+" in text[1:]:
        raise _invalid("Знак «+» допустим только в начале номера.")


def _from_international(digits: str) -> str:
    if digits.startswith("8"):
        raise _invalid("«+8» — не код страны: укажите номер с +7 или с 8 без «+».")
    if not digits.startswith("7"):
        raise _invalid(
            f"Номер с кодом страны «+{digits[0]}…» не российский: поддерживаются "
            "только номера с кодом +7."
        )
    if len(digits) != 11:
        raise _invalid(f"После +7 должно быть 10 цифр, а их {len(digits) - 1}.")
    return _check_national(digits[1:])


def _from_domestic(digits: str) -> str:
    if len(digits) not in (10, 11):
        raise _invalid(
            f"Цифр в номере: {len(digits)}, а нужно 10 (или 11 вместе с начальной 8 или 7)."
        )
    if len(digits) == 11 and digits[0] not in "78":
        raise _invalid("Номер из 11 цифр должен начинаться с 8, 7 или +7.")
    if len(digits) == 11:
        return _check_national(digits[1:])
    if digits[0] in "78" and not _RUSSIAN_NATIONAL.fullmatch(digits):
        # "8 999 123 45 6": a trunk prefix followed by a digit too few.
        raise _invalid(f"После начальной {digits[0]} в номере 9 цифр, а нужно 10.")
    return _check_national(digits)


def _check_national(national: str) -> str:
    """``national`` has ten digits; check they form a Russian number."""
    if not _RUSSIAN_NATIONAL.fullmatch(national):
        raise _invalid(
            f"Код «{national[:3]}» не используется в российских номерах "
            "(они начинаются с 3, 4, 80–87 или 9)."
        )
    return national


def _invalid(problem: str) -> DomainError:
    return DomainError("invalid_phone", f"{problem} {_EXAMPLE}", "phone")
