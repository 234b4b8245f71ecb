"""Medical organisations (МО): legal requisites, time zone, quiet hours, templates."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from medsign.domain._checks import require_text
from medsign.domain.consents import ConsentKind
from medsign.domain.errors import DomainError

# ИНН check digits (ФНС): (how many leading digits are weighed, their weights);
# each check digit is the weighted sum modulo 11, then modulo 10.
_INN_CHECKS: dict[int, tuple[tuple[int, tuple[int, ...]], ...]] = {
    10: ((9, (2, 4, 10, 3, 5, 9, 4, 6, 8)),),
    12: ((10, (7, 2, 4, 10, 3, 5, 9, 4, 6, 8)), (11, (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8))),
}
_KPP = re.compile(r"[0-9]{4}[0-9A-Z]{2}[0-9]{3}")


def validate_ogrn(s: str) -> str:
    """Check an ОГРН (13 digits) or ОГРНИП (15 digits) and its check digit; return it."""
    if re.fullmatch(r"[0-9]{13}", s):
        valid = int(s[:12]) % 11 % 10 == int(s[12])
    elif re.fullmatch(r"[0-9]{15}", s):
        valid = int(s[:14]) % 13 % 10 == int(s[14])
    else:
        raise _requisite_error("ogrn", "ОГРН должен состоять из 13 цифр (ОГРНИП — из 15)")
    if not valid:
        raise _requisite_error("ogrn", "Контрольная цифра ОГРН не сходится: проверьте номер")
    return s


def validate_inn(s: str) -> str:
    """Check an ИНН of a legal entity (10 digits) or a person (12 digits); return it."""
    checks = _INN_CHECKS.get(len(s)) if re.fullmatch(r"[0-9]+", s) else None
    if checks is None:
        raise _requisite_error("inn", "ИНН должен состоять из 10 цифр (у ИП — из 12)")
    if not all(_weighted_check(s[:n], weights) == int(s[n]) for n, weights in checks):
        raise _requisite_error("inn", "Контрольная цифра ИНН не сходится: проверьте номер")
    return s


def validate_kpp(s: str) -> str:
    """Check a КПП: 4 digits, 2 digits or capital Latin letters, 3 digits; return it."""
    if not _KPP.fullmatch(s):
        raise _requisite_error(
            "kpp",
            "КПП должен состоять из 9 символов: 4 цифры, 2 цифры или заглавные "
            "латинские буквы, 3 цифры",
        )
    return s


def _weighted_check(digits: str, weights: tuple[int, ...]) -> int:
    return sum(int(d) * w for d, w in zip(digits, weights, strict=True)) % 11 % 10


def _requisite_error(name: str, problem: str) -> DomainError:
    return DomainError(f"invalid_{name}", f"{problem}.", name)


@dataclass(frozen=True)
class Requisites:
    name: str
    address: str
    ogrn: str
    inn: str
    kpp: str

    def __post_init__(self) -> None:
        require_text(self.name, "name", "Наименование")
        require_text(self.address, "address", "Адрес")
        validate_ogrn(self.ogrn)
        validate_inn(self.inn)
        validate_kpp(self.kpp)


@dataclass(frozen=True)
class QuietHours:
    """Local wall-clock hours when patients must not be disturbed.

    The interval is open at both ends: at exactly ``start`` and exactly ``end``
    a message is allowed. That gives both "the first allowed moment after" and
    "the last allowed moment before" an exact answer. ``start > end`` wraps
    midnight (21:00–09:00); ``start == end`` means no quiet hours at all.
    """

    start: time
    end: time

    def __post_init__(self) -> None:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise DomainError(
                "invalid_quiet_hours",
                "Тихие часы задаются местным временем МО, без часового пояса.",
                "quiet_hours",
            )

    @property
    def wraps_midnight(self) -> bool:
        return self.start > self.end

    def contains(self, local_time: time) -> bool:
        t = local_time.replace(tzinfo=None)
        if self.wraps_midnight:
            return t > self.start or t < self.end
        return self.start < t < self.end

    def next_allowed(self, local_dt: datetime) -> datetime:
        """The first moment ``>= local_dt`` outside quiet hours (same tzinfo)."""
        if not self.contains(local_dt.time()):
            return local_dt
        day = local_dt.date()
        if self.wraps_midnight and local_dt.time() > self.start:
            day += timedelta(days=1)  # evening part: quiet ends tomorrow morning
        return _at(day, self.end, local_dt)

    def previous_allowed(self, local_dt: datetime) -> datetime:
        """The last moment ``<= local_dt`` outside quiet hours (same tzinfo)."""
        if not self.contains(local_dt.time()):
            return local_dt
        day = local_dt.date()
        if self.wraps_midnight and local_dt.time() < self.end:
            day -= timedelta(days=1)  # morning part: quiet began yesterday evening
        return _at(day, self.start, local_dt)

    def __str__(self) -> str:
        """``21:00-09:00``: the form :func:`parse_quiet_hours` reads back."""
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


def _at(day: date, wall: time, like: datetime) -> datetime:
    # Wall-clock construction, not arithmetic: correct even where a zone has DST.
    return datetime.combine(day, wall, tzinfo=like.tzinfo)


NO_QUIET_HOURS = QuietHours(time(0), time(0))

_HH_MM = r"([0-9]{1,2}):([0-9]{2})"
_QUIET_HOURS_TEXT = re.compile(rf"\s*{_HH_MM}\s*[-–—]\s*{_HH_MM}\s*")


def parse_quiet_hours(text: str) -> QuietHours:
    """Parse ``"21:00-09:00"`` (an en dash and spaces are fine too)."""
    match = _QUIET_HOURS_TEXT.fullmatch(text)
    try:
        if match is None:
            raise ValueError(text)
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        return QuietHours(time(h1, m1), time(h2, m2))
    except ValueError:  # no match, or 25:00 / 09:75
        raise DomainError(
            "invalid_quiet_hours",
            f"Не удалось разобрать тихие часы «{text}»: ожидается ЧЧ:ММ-ЧЧ:ММ, "
            "например 21:00-09:00.",
            "quiet_hours",
        ) from None


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name`` or ``DomainError(invalid_timezone)``."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # bad key or not a TZif file
        raise DomainError(
            "invalid_timezone",
            f"Неизвестный часовой пояс «{name}»: ожидается имя из базы IANA, "
            "например Europe/Moscow или Asia/Yekaterinburg.",
            "timezone",
        ) from None


@dataclass
class Organization:
    code: str
    requisites: Requisites
    timezone: str
    quiet_hours: QuietHours = NO_QUIET_HOURS
    partner_department_id: str | None = None
    template_ids: dict[ConsentKind, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        require_text(self.code, "code", "Код МО")
        zone(self.timezone)

    @property
    def tz(self) -> ZoneInfo:
        return zone(self.timezone)

    def template_for(self, kind: ConsentKind) -> str:
        """The partner platform's template id for this kind of document."""
        template_id = self.template_ids.get(kind, "").strip()
        if not template_id:
            raise DomainError(
                "template_not_configured",
                f"Для МО «{self.code}» не настроен шаблон документа «{kind.title}».",
                "template_ids",
            )
        return template_id
