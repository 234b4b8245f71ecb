"""СНИЛС — the insurance number that identifies one person across every organisation.

A patient record that carries it is matched to a Госуслуги (ESIA) account by it alone, so a
mistyped number must never be stored: the check digits are verified here (the Pension
Fund's published algorithm). Numbers up to ``001-001-998`` were issued before the check was
introduced and have no check rule. Stored and compared as 11 digits; shown as
``XXX-XXX-XXX YY``.
"""

from __future__ import annotations

import re

from medsign.domain.errors import DomainError

# The last number issued without check digits.
_UNCHECKED_UP_TO = 1_001_998
_SPELLINGS = re.compile(r"[0-9]{3}-?[0-9]{3}-?[0-9]{3}[ \-]?[0-9]{2}")
_EXAMPLE = "Ожидается 11 цифр в виде XXX-XXX-XXX YY, например 112-233-445 95."


def check_digits(number: str) -> int:
    """The two check digits of a 9-digit number: Σ digit × (9 … 1), taken modulo 101, with
    100 (and 101) written as 00."""
    total = sum(int(d) * weight for d, weight in zip(number, range(9, 0, -1), strict=True))
    return total % 101 % 100


def normalize_snils(raw: str) -> str:
    """Return ``raw`` as 11 digits or raise ``DomainError(invalid_snils)``.

    Accepted: ``XXX-XXX-XXX YY`` (also with a hyphen before the check digits) and
    ``XXXXXXXXXXX``, with spaces around."""
    text = raw.strip()
    if not _SPELLINGS.fullmatch(text):
        raise _invalid(f"СНИЛС записан неверно. {_EXAMPLE}")
    digits = "".join(ch for ch in text if ch.isdigit())
    number, check = digits[:9], int(digits[9:])
    if int(number) > _UNCHECKED_UP_TO and check_digits(number) != check:
        raise _invalid("СНИЛС не прошёл проверку контрольного числа: проверьте цифры номера.")
    if int(number) == 0:
        raise _invalid(f"СНИЛС не может состоять из нулей. {_EXAMPLE}")
    return digits


def snils_digits(raw: str | None) -> str | None:
    """The 11 digits of a СНИЛС as another system wrote it (ESIA: ``XXX-XXX-XXX YY``), or
    None when there is no such number in ``raw``. No check-digit test: this is for comparing
    what an identity provider vouches for, not for accepting input."""
    digits = "".join(ch for ch in (raw or "") if ch.isdigit())
    return digits if len(digits) == 11 else None


def format_snils(digits: str) -> str:
    """``XXX-XXX-XXX YY`` for people to read."""
    return f"{digits[:3]}-{digits[3:6]}-{digits[6:9]} {digits[9:]}"


def mask_snils(digits: str) -> str:
    """Only the check digits stay, for logs and audit: ``***-***-*** 95``. Never raises."""
    return f"***-***-*** {digits[-2:]}" if len(digits) >= 2 else "***"


def _invalid(message: str) -> DomainError:
    return DomainError("invalid_snils", message, "snils")
