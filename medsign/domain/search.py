"""What an operator typed into the one search box of the console, understood.

One box takes a patient's name (any part of it, any case, «ё» as «е»), a phone number in any
spelling, a СНИЛС in any spelling, or an id (the МИС's appointment id, the platform's
transaction id, medsign's request id — matched exactly). The text is read every way it can
be: «89991234567» is a phone number, and an 11-digit string whose check digits hold is also a
СНИЛС; a search finds a request matching any of the readings. Each reading is a value an
index serves: a normalised name column (``name_key``), the canonical phone, the 11 digits of
a СНИЛС, an exact id.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from medsign.domain.errors import DomainError
from medsign.domain.phones import normalize_phone
from medsign.domain.snils import normalize_snils

MAX_LENGTH = 100
_NAME_PUNCTUATION = frozenset(" -'’.")
_NUMBER_CHARACTERS = frozenset("0123456789+-() .\t\u00a0")


def name_key(*parts: str | None) -> str:
    """A name as the search column stores it and a query compares it: lower case, «ё» as
    «е», words separated by one space. ``name_key("Пётр  Ёлкин")`` is ``"петр елкин"``."""
    words = " ".join(p for p in parts if p).casefold().replace("ё", "е").split()
    return " ".join(words)


@dataclass(frozen=True)
class SearchQuery:
    """The readings of one search text; at least one of them is set."""

    text: str
    name_words: tuple[str, ...] = ()
    phone: str | None = None
    snils: str | None = None
    identifier: str | None = None

    @property
    def kinds(self) -> tuple[str, ...]:
        """The readings found, for tests and for the page's «искали как …» line."""
        found = (("name", bool(self.name_words)), ("phone", self.phone is not None),
                 ("snils", self.snils is not None), ("identifier", self.identifier is not None))
        return tuple(kind for kind, present in found if present)

    @property
    def title(self) -> str:
        titles = {"name": "имя пациента", "phone": "телефон", "snils": "СНИЛС",
                  "identifier": "номер записи или транзакции"}
        return ", ".join(titles[k] for k in self.kinds)


def parse_search(raw: str) -> SearchQuery | None:
    """Read what was typed; None when nothing was (blank or only spaces)."""
    text = " ".join(raw.split())
    if not text:
        return None
    if len(text) > MAX_LENGTH:
        raise DomainError("search_too_long",
                          f"Строка поиска длиннее {MAX_LENGTH} символов: сократите её.", "q")
    if _is_name(text):
        # A one-word text may also be an id made of letters: exact, so it costs nothing.
        return SearchQuery(text=text, name_words=tuple(name_key(text).split()),
                           identifier=None if " " in text else text)
    phone = snils = None
    if set(text) <= _NUMBER_CHARACTERS:
        phone = _or_none(normalize_phone, text)
        snils = _or_none(normalize_snils, text)
    return SearchQuery(text=text, phone=phone, snils=snils, identifier=text)


def _is_name(text: str) -> bool:
    return any(ch.isalpha() for ch in text) and all(
        ch.isalpha() or ch in _NAME_PUNCTUATION for ch in text)


def _or_none(normalize: Callable[[str], str], text: str) -> str | None:
    try:
        return normalize(text)
    except DomainError:
        return None
