"""Is this Госуслуги (ESIA) account the person of this patient record? — the one rule.

Signing in through ESIA gives the account the patient's documents and the power to link a
MAX account, so a namesake must never pass: the same full name and birth date are common
enough to belong to two people. The rule, for a confirmed ESIA account only:

1. a record with a СНИЛС matches exactly the account with the same СНИЛС — names may be
   spelled differently (a changed surname, «ё»), the number decides; an account without a
   СНИЛС never matches such a record;
2. a record without a СНИЛС matches when the full name (case, «ё»/«е» and spaces aside),
   the birth date **and** the mobile number ESIA has verified all agree with the record —
   an unverified number proves nothing.

Anything less certain is no match: the caller links nothing and sends the person to the
clinic.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class RecordIdentity:
    """What the patient record says (``snils``: 11 digits; ``phone``: ``+7XXXXXXXXXX``)."""

    last_name: str
    first_name: str
    middle_name: str | None
    birth_date: date
    snils: str | None
    phone: str | None


@dataclass(frozen=True)
class EsiaIdentity:
    """What ESIA vouches for (``snils``: 11 digits; ``verified_phone``: the mobile number
    ESIA marks ``VERIFIED``, as ``+7XXXXXXXXXX``, else None)."""

    last_name: str
    first_name: str
    middle_name: str | None
    birth_date: date | None
    snils: str | None
    verified_phone: str | None
    trusted: bool


def fold_name(*parts: str | None) -> str:
    """A full name compared without case, «ё» and spacing: «ИВАНОВА  Алёна» = «иванова алена»."""
    words = " ".join(p for p in parts if p).casefold().replace("ё", "е").split()
    return " ".join(words)


def same_person(record: RecordIdentity, person: EsiaIdentity) -> bool:
    """Rules 1 and 2 of the module docstring."""
    if not person.trusted:
        return False
    if record.snils is not None:
        return person.snils == record.snils
    return (person.birth_date == record.birth_date
            and fold_name(person.last_name, person.first_name, person.middle_name)
            == fold_name(record.last_name, record.first_name, record.middle_name)
            and person.verified_phone is not None and person.verified_phone == record.phone)
