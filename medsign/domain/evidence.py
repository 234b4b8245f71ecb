"""How the evidence of a signing reads to a lawyer: local times, people in words.

The stored records speak the machine's language — UTC instants with microseconds, actors such
as ``web:petrov`` or ``system:signing``. The verification report and the signature sheet say
the same things the way a court reads them: the time on the organisation's clock, to the
second, with the zone named («07.12.2026 10:15:03 (Москва, UTC+3)»), and who acted in words
(«врач Петров П. П.», «пациент в MAX», «МИС клиники», «система»).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

# Russia's IANA zones, named after their city as people say it
_ZONE_TITLES = {
    "Europe/Kaliningrad": "Калининград", "Europe/Moscow": "Москва",
    "Europe/Simferopol": "Симферополь", "Europe/Kirov": "Киров",
    "Europe/Volgograd": "Волгоград", "Europe/Astrakhan": "Астрахань",
    "Europe/Saratov": "Саратов", "Europe/Ulyanovsk": "Ульяновск", "Europe/Samara": "Самара",
    "Asia/Yekaterinburg": "Екатеринбург", "Asia/Omsk": "Омск",
    "Asia/Novosibirsk": "Новосибирск", "Asia/Barnaul": "Барнаул", "Asia/Tomsk": "Томск",
    "Asia/Novokuznetsk": "Новокузнецк", "Asia/Krasnoyarsk": "Красноярск",
    "Asia/Irkutsk": "Иркутск", "Asia/Chita": "Чита", "Asia/Yakutsk": "Якутск",
    "Asia/Khandyga": "Хандыга", "Asia/Vladivostok": "Владивосток",
    "Asia/Ust-Nera": "Усть-Нера", "Asia/Magadan": "Магадан", "Asia/Sakhalin": "Сахалин",
    "Asia/Srednekolymsk": "Среднеколымск", "Asia/Kamchatka": "Камчатка",
    "Asia/Anadyr": "Анадырь", "UTC": "UTC", "Etc/UTC": "UTC",
}
_ROLE_WORDS = {"doctor": "врач", "operator": "оператор", "admin": "администратор"}
_STAFF_PREFIXES = ("web:", "staff:")
_PATIENT_WORDS = {"max": "пациент в MAX", "portal": "пациент на портале",
                  "esia": "пациент на портале (вход через Госуслуги)"}


@dataclass(frozen=True)
class StaffName:
    """An employee as the evidence names them: full name and role (doctor, operator, admin)."""

    full_name: str
    role: str


def local_time(moment: datetime, timezone: str) -> str:
    """``moment`` on the clock of ``timezone``, to the second, with the zone named."""
    local = moment.astimezone(ZoneInfo(timezone))
    return f"{local:%d.%m.%Y %H:%M:%S} ({zone_title(timezone, local.utcoffset())})"


def local_iso(moment: datetime | None, timezone: str) -> str | None:
    """ISO 8601 on the organisation's clock, to the second (for the machine-readable report)."""
    if moment is None:
        return None
    return moment.astimezone(ZoneInfo(timezone)).isoformat(timespec="seconds")


def zone_title(timezone: str, offset: timedelta | None) -> str:
    """«Москва, UTC+3»; a zone outside Russia keeps its IANA name."""
    minutes = int((offset or timedelta()).total_seconds() // 60)
    sign = "+" if minutes >= 0 else "−"
    hours, rest = divmod(abs(minutes), 60)
    utc = f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")
    if minutes == 0 and _ZONE_TITLES.get(timezone) == "UTC":
        return "UTC"
    return f"{_ZONE_TITLES.get(timezone, timezone)}, {utc}"


def short_name(full_name: str) -> str:
    """«Петров Пётр Петрович» → «Петров П. П.» (a surname alone stays as it is)."""
    parts = full_name.split()
    if not parts:
        return full_name
    surname, *given = parts
    return " ".join([surname, *(f"{part[0]}." for part in given)])


def actor_words(actor: str, staff: Mapping[str, StaffName]) -> str:
    """Who ``actor`` (as stored in history and audit) was, in words; ``staff`` by login."""
    kind, _, who = actor.partition(":")
    if actor.startswith(_STAFF_PREFIXES):
        person = staff.get(who)
        if person is None:
            return f"сотрудник (учётная запись {who})"
        return f"{_ROLE_WORDS.get(person.role, 'сотрудник')} {short_name(person.full_name)}"
    if kind in _PATIENT_WORDS:
        return _PATIENT_WORDS[kind]
    if kind == "api":
        return "МИС клиники"
    return "система"


def staff_logins(actors: list[str]) -> set[str]:
    """The logins of the employees among ``actors`` (to look their names up at once)."""
    return {a.partition(":")[2] for a in actors if a.startswith(_STAFF_PREFIXES)}
