"""Who owns which phone: the platform's view of Госуслуги accounts.

The real platform fills ``signerInfo`` from the Госуслуги profile of the phone's owner, who is
not always the patient (a relative's phone, a typo in the МИС). The emulator therefore keeps a
registry of people by phone instead of inventing names:

- ``send`` for a phone with no account is refused with ``404 person.not.found`` (rule
  ``unknown_phones="refuse"``, the default and the demo's), as the real platform cannot
  start a deal without one; ``unknown_phones="invent"`` instead makes up a stable profile from
  a hash of the phone — a permissive mode for tests of the emulator itself, whose
  transactions are never compared with a patient record;
- ``answer_as`` makes the platform answer a given phone with someone else's profile (until
  cleared), and ``next_as`` the next new transaction whatever its phone (once): the way a
  test or the demo exercises the service's "signer is not the patient" check.

The profile is chosen at ``send`` and kept in the transaction: later changes to the registry
do not rewrite documents already being signed.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from medsign.integrations.goskey.emulator.profile import PatientProfile, filled_in, profile_for
from medsign.integrations.goskey.emulator.validation import PHONE, ValidationFailed

UNKNOWN_PHONE_RULES = ("refuse", "invent")


class UnknownPerson(LookupError):
    """No Госуслуги account for this phone (``send`` answers ``404 person.not.found``)."""

    def __init__(self, phone: str) -> None:
        super().__init__(phone)
        self.message = (f"phoneNumber: no Gosuslugi account is registered for {phone}; the "
                        "patient must register at gosuslugi.ru with this phone number")


@dataclass(frozen=True)
class Person:
    """One Госуслуги account: the phone it is registered with, the name and birth date."""

    phone: str
    last_name: str
    first_name: str
    middle_name: str | None
    birth_date: date
    gender: str = "F"

    @classmethod
    def from_json(cls, body: Any, *, where: str = "person") -> Person:
        """From ``{"phone", "last_name", "first_name", "middle_name"?, "birth_date", "gender"?}``;
        every problem is a ``ValidationFailed`` naming the field."""
        if not isinstance(body, dict):
            raise ValidationFailed(f"{where}: a JSON object is expected")
        phone = body.get("phone")
        if not isinstance(phone, str) or not PHONE.fullmatch(phone):
            raise ValidationFailed(f"{where}.phone: expected +7XXXXXXXXXX")
        names = {key: body.get(key) for key in ("last_name", "first_name")}
        for key, value in names.items():
            if not isinstance(value, str) or not value.strip() or len(value) > 100:
                raise ValidationFailed(f"{where}.{key}: 1 to 100 characters are required")
        middle = body.get("middle_name")
        if middle is not None and (not isinstance(middle, str) or len(middle) > 100):
            raise ValidationFailed(f"{where}.middle_name: a string of up to 100 characters")
        gender = body.get("gender", "F")
        if gender not in ("M", "F"):
            raise ValidationFailed(f"{where}.gender: M or F")
        return cls(phone=phone, last_name=str(names["last_name"]),
                   first_name=str(names["first_name"]), middle_name=middle or None,
                   birth_date=_date(body.get("birth_date"), f"{where}.birth_date"),
                   gender=gender)

    def to_json(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "birth_date": self.birth_date.isoformat()}

    def profile(self) -> PatientProfile:
        """The full profile: the name and birth date as registered, the rest made up."""
        return filled_in(self.phone, last_name=self.last_name, first_name=self.first_name,
                         middle_name=self.middle_name or "", gender=self.gender,
                         birth_date=self.birth_date)


def _date(value: Any, where: str) -> date:
    try:
        born = date.fromisoformat(str(value))
    except ValueError:
        raise ValidationFailed(f"{where}: expected YYYY-MM-DD") from None
    if not date(1900, 1, 1) <= born <= date(2100, 1, 1):
        raise ValidationFailed(f"{where}: out of range")
    return born


def read_people_file(path: Path) -> tuple[Person, ...]:
    """A JSON file: a list of people, or ``{"people": [...]}`` (each as ``Person.from_json``)."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"the people file {path} cannot be read: {exc}") from None
    items = raw.get("people") if isinstance(raw, dict) else raw
    if not isinstance(items, list):
        raise ValueError(f"the people file {path}: a list of people is expected")
    try:
        return tuple(Person.from_json(p, where=f"people[{n}]") for n, p in enumerate(items))
    except ValidationFailed as exc:
        raise ValueError(f"the people file {path}: {exc.message}") from None


@dataclass
class Registry:
    """The accounts by phone, the substitutions, and the rule for an unknown phone."""

    configured: tuple[Person, ...] = ()
    unknown_phones: str = "refuse"
    people: dict[str, Person] = field(default_factory=dict)
    answer_as: dict[str, Person] = field(default_factory=dict)
    next_as: Person | None = None

    def __post_init__(self) -> None:
        if self.unknown_phones not in UNKNOWN_PHONE_RULES:
            raise ValueError(f"unknown_phones is one of {', '.join(UNKNOWN_PHONE_RULES)}")
        if not self.people:
            self.reset()

    def reset(self) -> None:
        """Back to the configured people, with no substitutions."""
        self.people = {p.phone: p for p in self.configured}
        self.answer_as, self.next_as = {}, None

    def register(self, person: Person) -> bool:
        """Add or replace the account of ``person.phone``; True when it is new."""
        new = person.phone not in self.people
        self.people[person.phone] = person
        return new

    def remove(self, phone: str) -> bool:
        self.answer_as.pop(phone, None)
        return self.people.pop(phone, None) is not None

    def signer_for(self, phone: str) -> PatientProfile:
        """Whose profile fills a new transaction for ``phone`` (consumes ``next_as``)."""
        once = self.next_as
        if once is not None:
            self.next_as = None
            return once.profile()
        person = self.answer_as.get(phone) or self.people.get(phone)
        if person is not None:
            return person.profile()
        if self.unknown_phones == "invent":
            return profile_for(phone)
        raise UnknownPerson(phone)

    def to_json(self) -> dict[str, Any]:
        return {"people": [p.to_json() for p in sorted(self.people.values(),
                                                        key=lambda p: p.phone)],
                "answer_as": {phone: p.to_json() for phone, p in self.answer_as.items()},
                "next_as": self.next_as.to_json() if self.next_as else None,
                "unknown_phones": self.unknown_phones}

    def restore(self, saved: dict[str, Any]) -> None:
        """Back to a state ``to_json`` wrote (the emulator's store, after a restart)."""
        self.people = {p["phone"]: Person.from_json(p) for p in saved.get("people", [])}
        self.answer_as = {phone: Person.from_json(p)
                          for phone, p in (saved.get("answer_as") or {}).items()}
        nxt = saved.get("next_as")
        self.next_as = Person.from_json(nxt) if nxt else None
