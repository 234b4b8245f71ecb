"""A Госуслуги profile as the platform puts it into documents; ``profile_for`` makes a fake
one, always the same for the same phone number (the registry's permissive mode, ``people.py``)."""

from __future__ import annotations

import dataclasses
import hashlib
import random
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

_MALE = (("Иванов", "Иван", "Петрович"), ("Смирнов", "Алексей", "Сергеевич"),
         ("Кузнецов", "Дмитрий", "Андреевич"), ("Попов", "Николай", "Викторович"),
         ("Соколов", "Михаил", "Олегович"), ("Лебедев", "Павел", "Игоревич"))
_FEMALE = (("Иванова", "Мария", "Петровна"), ("Смирнова", "Елена", "Сергеевна"),
           ("Кузнецова", "Ольга", "Андреевна"), ("Попова", "Анна", "Викторовна"),
           ("Соколова", "Татьяна", "Олеговна"), ("Лебедева", "Ирина", "Игоревна"))
_ISSUERS = ("ГУ МВД России по г. Москве", "ГУ МВД России по Московской области",
            "ОВД района Хамовники г. Москвы", "УФМС России по Тверской области")
_STREETS = ("ул. Ленина", "ул. Мира", "пр-т Победы", "ул. Садовая", "ул. Лесная")


@dataclass(frozen=True)
class PatientProfile:
    last_name: str
    first_name: str
    middle_name: str
    gender: str  # "M" / "F", as ЕСИА gives it
    birth_date: date
    passport_series: str
    passport_number: str
    passport_issued_by: str
    passport_issued_on: date
    passport_department_code: str
    address: str

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.last_name, self.first_name, self.middle_name) if p)

    def to_json(self) -> dict[str, Any]:
        body = dataclasses.asdict(self)
        body.update(birth_date=self.birth_date.isoformat(),
                    passport_issued_on=self.passport_issued_on.isoformat())
        return body

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> PatientProfile:
        values = dict(raw)
        for key in ("birth_date", "passport_issued_on"):
            values[key] = date.fromisoformat(values[key])
        return cls(**values)

    @property
    def passport(self) -> str:
        return f"{self.passport_series[:2]} {self.passport_series[2:]} {self.passport_number}"


def profile_for(phone: str) -> PatientProfile:
    rng = random.Random(hashlib.sha256(phone.encode()).digest())
    gender = rng.choice(("M", "F"))
    last, first, middle = rng.choice(_MALE if gender == "M" else _FEMALE)
    born = date(1950, 1, 1) + timedelta(days=rng.randrange(365 * 55))
    return filled_in(phone, last_name=last, first_name=first, middle_name=middle, gender=gender,
                     birth_date=born)


def filled_in(phone: str, *, last_name: str, first_name: str, middle_name: str, gender: str,
              birth_date: date) -> PatientProfile:
    """A profile with the name and birth date given and the passport and address made up —
    always the same for the same phone number (the service compares only names and birth
    date)."""
    rng = random.Random(hashlib.sha256(f"documents:{phone}".encode()).digest())
    issued = birth_date + timedelta(days=365 * 20 + rng.randrange(365 * 5))
    return PatientProfile(
        last_name=last_name, first_name=first_name, middle_name=middle_name, gender=gender,
        birth_date=birth_date,
        passport_series=f"{rng.randrange(10, 99)}{rng.randrange(10, 99)}",
        passport_number=f"{rng.randrange(10**6):06d}",
        passport_issued_by=rng.choice(_ISSUERS), passport_issued_on=issued,
        passport_department_code=f"{rng.randrange(100, 999)}-{rng.randrange(100, 999)}",
        address=f"г. Москва, {rng.choice(_STREETS)}, д. {rng.randrange(1, 120)}, "
                f"кв. {rng.randrange(1, 300)}")
