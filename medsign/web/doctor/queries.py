"""What the doctor's workstation (АРМ врача) shows: today's and tomorrow's appointments of the
doctor's organisation, in its own time zone, with consents, signing and the MAX link.

Everything here is read inside one organisation's ``Scope``; a doctor never names another.
The name search runs in Python on the (small) two-day list, because SQLite's LIKE folds case
for ASCII only and patients' names are Cyrillic.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from medsign.db.models import AppointmentRow, ConsentRow, PatientRow, SigningRequestRow
from medsign.domain.consents import ConsentKind, ConsentState, SigningMethod
from medsign.domain.signing import OPEN_STATES, SigningState
from medsign.records import appointments, organizations
from medsign.records.patients import full_name
from medsign.records.scope import Scope


@dataclass(frozen=True)
class ConsentView:
    kind: str
    title: str
    patient_title: str
    method: str
    method_title: str
    state: str
    state_title: str


@dataclass(frozen=True)
class RequestSummary:
    id: str
    state: str
    state_title: str
    updated_at: datetime
    reason: str | None
    patient_state_title: str = ""

    @property
    def completed(self) -> bool:
        return self.state == SigningState.completed

    @property
    def reason_label(self) -> str:
        return SigningState(self.state).reason_label

    @property
    def active(self) -> bool:
        """Still holds the appointment (``failed`` too, until an operator retries or cancels
        it): the service refuses a second start while it does."""
        return SigningState(self.state) in OPEN_STATES


@dataclass(frozen=True)
class Card:
    appointment_id: str
    organization_code: str  # the appointment id is unique within it only (pages' URLs carry both)
    starts_at: datetime  # in the organisation's time zone
    timezone: str
    status: str
    patient_name: str
    birth_date: date
    phone: str | None
    service: str
    doctor_name: str
    consents: list[ConsentView]
    request: RequestSummary | None
    max_link: str
    max_link_title: str
    blocker: str | None  # why signing cannot be started now; None when it can

    @property
    def can_start(self) -> bool:
        return self.blocker is None


@dataclass(frozen=True)
class Day:
    label: str
    day: date
    cards: list[Card]


@dataclass(frozen=True)
class Board:
    organization_name: str
    timezone: str
    days: list[Day]


def board(db: Session, *, scope: Scope, organization: str, now: datetime,
          query: str = "", cannot_sign: str | None = None) -> Board:
    """``cannot_sign``: why the organisation signs nothing now (it blocks every start)."""
    org = organizations.get(db, scope=scope, code=organization)
    tz = ZoneInfo(org.timezone)
    today = now.astimezone(tz).date()
    start = datetime.combine(today, datetime.min.time(), tz)
    rows = db.execute(select(AppointmentRow, PatientRow)
                      .join(PatientRow, PatientRow.id == AppointmentRow.patient_id)
                      .where(AppointmentRow.organization_id == org.id,
                             AppointmentRow.starts_at >= start,
                             AppointmentRow.starts_at < start + timedelta(days=2))
                      .order_by(AppointmentRow.starts_at, AppointmentRow.id)).all()
    wanted = _matches(query)
    pairs = [(a, p) for a, p in rows if wanted(full_name(p))]
    found = cards(db, pairs, tz, org.code, cannot_sign)
    days = [Day(label, day, [c for c in found if c.starts_at.date() == day])
            for label, day in (("Сегодня", today), ("Завтра", today + timedelta(days=1)))]
    return Board(org.name, org.timezone, days)


def _matches(query: str) -> Callable[[str], bool]:
    words = [_fold(w) for w in query.split()][:5]
    return lambda name: all(w in _fold(name) for w in words)


def _fold(text: str) -> str:
    return text.casefold().replace("ё", "е")


def card(db: Session, *, scope: Scope, organization: str, appointment_id: str,
         cannot_sign: str | None = None) -> Card:
    """One appointment (404 outside the scope, like the API)."""
    appt, org, patient, _ = appointments.get(db, scope=scope, organization=organization,
                                             external_id=appointment_id)
    return cards(db, [(appt, patient)], ZoneInfo(org.timezone), org.code, cannot_sign)[0]


def cards(db: Session, pairs: Sequence[tuple[AppointmentRow, PatientRow]],
          tz: ZoneInfo, organization_code: str, cannot_sign: str | None = None) -> list[Card]:
    """Cards of one organisation's appointments."""
    ids = [a.id for a, _ in pairs]
    consents = _consents(db, ids)
    latest = _latest_requests(db, ids)
    return [_card(a, p, consents.get(a.id, []), latest.get(a.id), tz, organization_code,
                  cannot_sign) for a, p in pairs]


def _consents(db: Session, ids: list[int]) -> dict[int, list[ConsentRow]]:
    found: dict[int, list[ConsentRow]] = {}
    for c in db.scalars(select(ConsentRow).where(ConsentRow.appointment_id.in_(ids))
                        .order_by(ConsentRow.kind)):
        found.setdefault(c.appointment_id, []).append(c)
    return found


def _latest_requests(db: Session, ids: list[int]) -> dict[int, SigningRequestRow]:
    found: dict[int, SigningRequestRow] = {}
    for r in db.scalars(select(SigningRequestRow).where(SigningRequestRow.appointment_id.in_(ids))
                        .order_by(SigningRequestRow.created_at, SigningRequestRow.id)):
        found[r.appointment_id] = r  # the last one wins
    return found


def _card(a: AppointmentRow, p: PatientRow, consents: list[ConsentRow],
          request: SigningRequestRow | None, tz: ZoneInfo, organization_code: str,
          cannot_sign: str | None) -> Card:
    summary = summarize(request) if request else None
    link, link_title = max_link(p)
    return Card(
        appointment_id=a.external_id, organization_code=organization_code,
        starts_at=a.starts_at.astimezone(tz), timezone=tz.key,
        status=a.status,
        patient_name=full_name(p), birth_date=p.birth_date, phone=p.phone,
        service=a.service_name, doctor_name=a.doctor_name,
        consents=[consent_view(c) for c in consents], request=summary, max_link=link,
        max_link_title=link_title, blocker=_blocker(a, p, consents, summary, cannot_sign))


def summarize(r: SigningRequestRow) -> RequestSummary:
    state = SigningState(r.state)
    return RequestSummary(r.id, state.value, state.title, r.updated_at, r.reason,
                          state.patient_title)


def consent_view(c: ConsentRow) -> ConsentView:
    kind, method, state = (ConsentKind(c.kind), SigningMethod(c.signing_method),
                           ConsentState(c.state))
    return ConsentView(kind.value, kind.title, kind.patient_title, method.value, method.title,
                       state.value, state.title)


def max_link(p: PatientRow) -> tuple[str, str]:
    if p.max_user_id is None:
        return "none", "не привязан"
    if not p.max_reachable:
        return "stopped", "привязан, бот остановлен пациентом"
    return "linked", "привязан"


def _blocker(a: AppointmentRow, p: PatientRow, consents: list[ConsentRow],
             request: RequestSummary | None, cannot_sign: str | None) -> str | None:
    if a.status != "scheduled":
        return "запись на приём отменена"
    if request is not None and request.state == SigningState.failed:
        return "подписание остановлено с ошибкой: оператор должен повторить или отменить его"
    if request is not None and request.active:
        return "подписание уже идёт"
    if cannot_sign is not None:
        return cannot_sign
    if not any(c.signing_method == SigningMethod.electronic and c.state == ConsentState.pending
               for c in consents):
        return "нет документов, ожидающих электронного подписания"
    if not p.phone:
        return "у пациента не указан телефон"
    return None


def requests_of(db: Session, *, organization: str, appointment_id: str,
                scope: Scope) -> list[RequestSummary]:
    """Every signing request of an appointment, newest first."""
    appt, _, _, _ = appointments.get(db, scope=scope, organization=organization,
                                     external_id=appointment_id)
    rows = db.scalars(select(SigningRequestRow).where(SigningRequestRow.appointment_id == appt.id)
                      .order_by(SigningRequestRow.created_at.desc(), SigningRequestRow.id.desc()))
    return [summarize(r) for r in rows]

