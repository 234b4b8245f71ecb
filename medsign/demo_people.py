"""The demo's people, once, for every emulator that knows them.

A demo patient is one person in the МИС (the demo's patient record), in MAX (an account with
this phone), at ЕСИА (a Госуслуги account, for «Войти через Госуслуги») and at the signing
platform (the Госуслуги profile it fills the documents from): ``medsign demo`` and the browser
tests build all four from this one list, so the signer in the documents is the patient.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from medsign.integrations.esia.emulator.model import TestPerson
from medsign.integrations.goskey.emulator.people import Person


@dataclass(frozen=True)
class DemoPerson:
    patient_id: str
    last_name: str
    first_name: str
    middle_name: str | None
    birth_date: date
    gender: str
    phone: str
    esia_oid: str
    snils: str
    email: str | None

    def esia(self) -> TestPerson:
        return TestPerson(oid=self.esia_oid, last_name=self.last_name,
                          first_name=self.first_name, middle_name=self.middle_name,
                          birth_date=self.birth_date, gender=self.gender, snils=self.snils,
                          mobile=self.phone, email=self.email)

    def goskey(self) -> Person:
        return Person(phone=self.phone, last_name=self.last_name, first_name=self.first_name,
                      middle_name=self.middle_name, birth_date=self.birth_date,
                      gender=self.gender)


DEMO_PEOPLE = (
    DemoPerson("demo-p1", "Иванова", "Мария", "Петровна", date(1985, 3, 14), "F",
               "+79990000001", "1000299700", "145-678-912 08", "maria.ivanova@example.org"),
    DemoPerson("demo-p2", "Смирнов", "Алексей", "Игоревич", date(1972, 11, 2), "M",
               "+79990000002", "1000299701", "156-789-123 17", "a.smirnov@example.org"),
    DemoPerson("demo-p3", "Кузнецова", "Ольга", None, date(1990, 7, 25), "F",
               "+79990000003", "1000299702", "167-890-234 13", None),
)


def goskey_people_json() -> dict[str, Any]:
    """The signing platform's people file (``medsign emulate goskey --people``)."""
    return {"people": [p.goskey().to_json() for p in DEMO_PEOPLE]}
