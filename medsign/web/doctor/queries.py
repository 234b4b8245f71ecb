"""What the doctor's workstation (АРМ врача) shows: one day's appointments of the doctor's
organisation (or only his own patients), in its own time zone, with consents, signing and
the MAX link; an appointment's history.

Everything here is read inside one organisation's ``Scope``; a doctor never names another.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from medsign.accounts import actors
from medsign.db.models import (
    AppointmentRow,
    AuditRow,
    ConsentRow,
    NotificationRow,
    PatientRow,
    SigningEventRow,
    SigningRequestRow,
)
from medsign.domain.audit import action_title
from medsign.domain.bot import Choice
from medsign.domain.consents import ConsentKind, ConsentState, SigningMethod
from medsign.domain.search import name_key
from medsign.domain.signing import OPEN_STATES, SigningAction, SigningState
from medsign.records import appointments, organizations, paging
from medsign.records import patients as patient_records
from medsign.records.patients import full_name
from medsign.records.scope import Scope
from medsign.signing import follow_up


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
class BoardFilter:
    """What the board shows: one day (None: today in the МО's time zone), the doctor's own
    patients (``doctor_id``: his id in the МИС) or the whole МО's, a name search, a page."""

    day: date | None = None
    doctor_id: str | None = None
    query: str = ""
    after: str | None = None  # the cursor of the page before (``Board.next_cursor``)


@dataclass(frozen=True)
class Board:
    organization_name: str
    timezone: str
    day: date
    today: date
    cards: list[Card]
    next_cursor: str | None  # None: this is the day's last page

    @property
    def label(self) -> str:
        return {0: "Сегодня", 1: "Завтра", -1: "Вчера"}.get((self.day - self.today).days, "")

    @property
    def previous_day(self) -> date:
        return self.day - timedelta(days=1)

    @property
    def next_day(self) -> date:
        return self.day + timedelta(days=1)


PAGE_SIZE = 50


def board(db: Session, *, scope: Scope, organization: str, now: datetime,
          where: BoardFilter = BoardFilter(), cannot_sign: str | None = None,
          page_size: int = PAGE_SIZE) -> Board:
    """One day's appointments of the МО (or of one doctor), in order of time, a page at a
    time (keyset on (starts_at, id), served by the appointments' day indexes); the name
    search is a condition on the patients' ``search_name`` (``records.patients``), so a
    page reads its rows and the day's index bounds the rest: each row's patient is tested
    by key (``indexed=False``), never all the namesakes of the region read first.

    ``cannot_sign``: why the organisation signs nothing now (it blocks every start)."""
    org = organizations.get(db, scope=scope, code=organization)
    tz = ZoneInfo(org.timezone)
    today = now.astimezone(tz).date()
    day = where.day or today
    start = datetime.combine(day, datetime.min.time(), tz)
    stmt = (select(AppointmentRow, PatientRow)
            .join(PatientRow, PatientRow.id == AppointmentRow.patient_id)
            .where(AppointmentRow.organization_id == org.id,
                   AppointmentRow.starts_at >= start,
                   AppointmentRow.starts_at < start + timedelta(days=1))
            .order_by(AppointmentRow.starts_at, AppointmentRow.id))
    if where.doctor_id is not None:
        stmt = stmt.where(AppointmentRow.doctor_external_id == where.doctor_id)
    words = name_key(where.query).split()[:5]
    if words:
        stmt = stmt.where(patient_records.name_matches(words, indexed=False))
    after = decode_cursor(where.after)
    if after is not None:
        stmt = stmt.where(tuple_(AppointmentRow.starts_at, AppointmentRow.id) > tuple_(*after))
    rows = db.execute(stmt.limit(page_size + 1)).all()
    pairs, more = [(a, p) for a, p in rows[:page_size]], len(rows) > page_size
    found = cards(db, pairs, tz, org.code, cannot_sign)
    next_cursor = encode_cursor(pairs[-1][0]) if more and pairs else None
    return Board(org.name, org.timezone, day, today, found, next_cursor)


def encode_cursor(a: AppointmentRow) -> str:
    return paging.encode({"s": a.starts_at.isoformat(), "i": a.id})


def decode_cursor(token: str | None) -> tuple[datetime, int] | None:
    """The board's cursor, or None (the day's first page) for anything else."""
    data = paging.decode(token or "")
    if data is None or not isinstance(data.get("i"), int):
        return None
    at = paging.moment(data.get("s"))
    return None if at is None else (at, data["i"])


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



def follow_up_blocker(db: Session, *, scope: Scope, organization: str,
                      appointment_id: str) -> str | None:
    """Why «Отправить ещё раз» and «На бумаге» are not offered now (None: they are)."""
    appt, _, _, _ = appointments.get(db, scope=scope, organization=organization,
                                     external_id=appointment_id)
    return follow_up.latest(db, appt).blocker


@dataclass(frozen=True)
class Event:
    """One line of an appointment's history: when, what happened, who did it, why."""

    at: datetime
    what: str
    who: str
    reason: str | None = None


TIMELINE_LIMIT = 200  # per source: an appointment has a handful; a runaway one stays bounded

_CHOICES = {Choice.sign.value: "пациент выбрал «Подписать онлайн»",
            Choice.paper.value: "пациент выбрал «Подпишу в клинике»"}


def timeline(db: Session, *, scope: Scope, organization: str,
             appointment_id: str) -> list[Event]:
    """The appointment's history, oldest first: its changes (audit), the invitations sent and
    answered, every move of its signing requests."""
    appt, _, _, _ = appointments.get(db, scope=scope, organization=organization,
                                     external_id=appointment_id)
    raw = (_audited(db, appt, organization) + _invitations(db, appt)
           + _signing_events(db, appt))
    who = actors.names(db, {actor for _, _, actor, _ in raw})
    return [Event(at, what, who[actor], reason)
            for at, what, actor, reason in sorted(raw, key=lambda e: e[0])]


_Raw = tuple[datetime, str, str, str | None]


def _audited(db: Session, appt: AppointmentRow, organization: str) -> list[_Raw]:
    rows = db.scalars(select(AuditRow).where(
        AuditRow.subject_type == "appointment", AuditRow.subject_id == appt.external_id,
        AuditRow.organization_code == organization)
        .order_by(AuditRow.id).limit(TIMELINE_LIMIT))
    return [(r.at, action_title(r.action), r.actor, None) for r in rows]


def _invitations(db: Session, appt: AppointmentRow) -> list[_Raw]:
    found: list[_Raw] = []
    for n in db.scalars(select(NotificationRow).where(NotificationRow.appointment_id == appt.id)
                        .order_by(NotificationRow.id).limit(TIMELINE_LIMIT)):
        if n.sent_at is not None:
            found.append((n.sent_at, "приглашение подписать документы отправлено пациенту в MAX",
                          "system", None))
        if n.choice_at is not None and n.choice in _CHOICES:
            found.append((n.choice_at, _CHOICES[n.choice], "patient", None))
    return found


def _signing_events(db: Session, appt: AppointmentRow) -> list[_Raw]:
    rows = db.scalars(select(SigningEventRow)
                      .join(SigningRequestRow,
                            SigningRequestRow.id == SigningEventRow.signing_request_id)
                      .where(SigningRequestRow.appointment_id == appt.id)
                      .order_by(SigningEventRow.id).limit(TIMELINE_LIMIT))
    return [(e.at, _move_title(e), e.actor, e.reason) for e in rows]


def _move_title(e: SigningEventRow) -> str:
    action = (e.details or {}).get("action")
    if isinstance(action, str) and action in SigningAction.__members__.values():
        return str(SigningAction(action).title)
    return f"подписание: {SigningState(e.to_state).title}"
