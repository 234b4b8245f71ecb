"""What the operators' console reads: signing requests with their runner item, stuck and failed
ones, notifications, the audit log, the queue.

"Stuck" means an active request whose runner item has not changed for ``stuck_after`` (or that
has no open item at all): a request waiting for the patient is not stuck — its item is polled
and so keeps changing — but one no worker has touched for that long is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, tuple_, union_all
from sqlalchemy.orm import Session

from medsign.accounts import actors
from medsign.db.integrity import get_existing
from medsign.db.models import (
    AppointmentRow,
    AuditRow,
    NotificationRow,
    OrganizationRow,
    PatientRow,
    ReconciliationFindingRow,
    SigningEventRow,
    SigningRequestRow,
    WorkItemRow,
)
from medsign.domain import audit as audit_words
from medsign.domain.alerts import AlertKind
from medsign.domain.consents import ConsentKind
from medsign.domain.reconciliation import Outcome
from medsign.domain.signing import FINAL_STATES, SigningState, action_title
from medsign.notifications.service import COPIES_KIND
from medsign.records import paging
from medsign.records.patients import full_name
from medsign.runner import store
from medsign.signing import alerts as signing_alerts
from medsign.signing import repository as signing_repository
from medsign.signing import service as signing
from medsign.signing.service import Cursor, RequestView

NOTIFICATION_TITLES = {"scheduled": "запланировано", "skipped": "не отправляется",
                       "sent": "отправлено", "cancelled": "отменено",
                       "undeliverable": "не доставлено", "failed": "ошибка",
                       "superseded": "заменено новым: приём перенесён"}
ITEM_TITLES = {store.SCHEDULED: "в очереди", store.DONE: "выполнено", store.FAILED: "ошибка",
               store.CANCELLED: "отменено"}


@dataclass(frozen=True)
class ItemInfo:
    status: str
    step: str
    attempts: int
    last_error: str | None
    updated_at: datetime
    next_run_at: datetime | None

    @property
    def error(self) -> str | None:
        """The item's error, if it still stands: a cancelled item keeps the cancel's reason in
        ``last_error`` (and a finished one an old attempt's), and neither is an error."""
        return self.last_error if self.status in (store.SCHEDULED, store.FAILED) else None


@dataclass(frozen=True)
class Listed:
    """What a list row names in words: the patient, the МО, the documents, and the МО's time
    zone its times are shown in."""

    patient: str
    organization: str
    documents: list[str]
    timezone: str


@dataclass(frozen=True)
class ConsoleRequest:
    view: RequestView
    item: ItemInfo | None
    listed: Listed

    @property
    def state_title(self) -> str:
        return SigningState(self.view.row.state).title

    @property
    def reason_label(self) -> str:
        return SigningState(self.view.row.state).reason_label


_ITEM_COLUMNS = (WorkItemRow.status, WorkItemRow.step, WorkItemRow.attempts,
                 WorkItemRow.last_error, WorkItemRow.updated_at, WorkItemRow.next_run_at)


def latest_items(db: Session, request_ids: list[str]) -> dict[str, ItemInfo]:
    """Each request's newest signing item, by the columns a list shows (a list row's item is
    never loaded whole: its ``data`` is the step's own business)."""
    if not request_ids:
        return {}
    newest = (select(func.max(WorkItemRow.id)).where(WorkItemRow.kind == signing.SIGNING_KIND,
                                                     WorkItemRow.ref.in_(request_ids))
              .group_by(WorkItemRow.ref))
    rows = db.execute(select(WorkItemRow.ref, *_ITEM_COLUMNS)
                      .where(WorkItemRow.id.in_(newest)))
    return {r.ref or "": ItemInfo(*r[1:]) for r in rows}


def copies_item(db: Session, request_id: str) -> ItemInfo | None:
    """Sending the signed PDFs into the patient's MAX chat: how it went (``max.copies``)."""
    r = db.scalars(select(WorkItemRow).where(WorkItemRow.kind == COPIES_KIND,
                                             WorkItemRow.ref == request_id)
                   .order_by(WorkItemRow.id.desc())).first()
    return None if r is None else ItemInfo(r.status, r.step, r.attempts, r.last_error,
                                           r.updated_at, r.next_run_at)


@dataclass(frozen=True)
class RequestNames:
    """What a request's page names in words: staff read names, not the МИС's codes."""

    organization: str
    patient: str
    documents: list[str]


def names(db: Session, view: RequestView) -> RequestNames:
    org = get_existing(db, OrganizationRow, view.row.organization_id)
    patient = get_existing(db, PatientRow, view.row.patient_id)
    return RequestNames(
        organization=f"{org.name} (код {org.code})",
        patient=f"{full_name(patient)} (идентификатор в МИС {patient.external_id})",
        documents=[ConsentKind(kind).title for kind in view.row.consent_kinds])


def with_items(db: Session, views: list[RequestView]) -> list[ConsoleRequest]:
    items = latest_items(db, [v.row.id for v in views])
    listed = _listed(db, views)
    return [ConsoleRequest(v, items.get(v.row.id), listed[v.row.id]) for v in views]


def _listed(db: Session, views: list[RequestView]) -> dict[str, Listed]:
    if not views:
        return {}
    P, Org = PatientRow, OrganizationRow  # noqa: N806
    patients = {p.id: full_name(p) for p in db.execute(
        select(P.id, P.last_name, P.first_name, P.middle_name)
        .where(P.id.in_({v.row.patient_id for v in views})))}
    orgs = {o.id: o for o in db.execute(select(Org.id, Org.name, Org.timezone).where(
        Org.id.in_({v.row.organization_id for v in views})))}
    return {v.row.id: Listed(
        patient=patients[v.row.patient_id],
        organization=orgs[v.row.organization_id].name,
        documents=[ConsentKind(k).title for k in v.row.consent_kinds],
        timezone=orgs[v.row.organization_id].timezone) for v in views}


@dataclass(frozen=True)
class AlertPage:
    """A page of an alert list and the cursor of the next one (None: this is the last)."""

    rows: list[ConsoleRequest]
    more: Cursor | None


def stuck(db: Session, *, now: datetime, stuck_after: timedelta, limit: int,
          where: signing_repository.ListFilter | None = None,
          after: Cursor | None = None) -> AlertPage:
    return alerting(db, now=now, stall_after=stuck_after, limit=limit, where=where,
                    after=after, kinds=(AlertKind.stalled,))


def alerting(db: Session, *, now: datetime, stall_after: timedelta, limit: int,
             where: signing_repository.ListFilter | None = None, after: Cursor | None = None,
             kinds: tuple[AlertKind, ...] = tuple(AlertKind)) -> AlertPage:
    """Failed and stalled requests (what the console's badge counts), the longest waiting
    first, ``limit`` a page: the page after ``after`` (``Cursor`` of the moment since when a
    request has needed an operator, and its id).

    Each part's own first ``limit + 1`` keys after the cursor, read through its own index,
    are merged; then the requests shown alone are loaded, by key."""
    R = SigningRequestRow  # noqa: N806
    keys: dict[str, datetime] = {}
    for part in (p for kind in kinds for p in signing_alerts.listed(kind, now, stall_after)):
        for since, request_id in part.first(db, where=where, after=after, most=limit + 1):
            keys[request_id] = min(since, keys.get(request_id, since))
    ordered = sorted((since, request_id) for request_id, since in keys.items())
    shown, more = ordered[:limit], len(ordered) > limit
    if not shown:
        return AlertPage([], None)
    place = {request_id: n for n, (_, request_id) in enumerate(shown)}
    views = sorted((RequestView(*r) for r in db.execute(
        signing_alerts.latest_item_query().where(R.id.in_(list(place))))),
        key=lambda v: place[v.row.id])
    return AlertPage(with_items(db, views), Cursor(*shown[-1]) if more else None)


@dataclass(frozen=True)
class OpenFinding:
    """A transaction a reconciliation after a restore left to an operator, not yet over."""

    found_at: datetime
    signing_request_id: str | None
    request_known: bool
    transaction_id: str | None
    organization: str
    local_state: str | None
    detail: str


def open_findings(db: Session, *, limit: int = 20) -> list[OpenFinding]:
    """The newest unresolved ``operator`` findings whose request has not ended since (or is
    not in the database at all: a transaction only the journal knew)."""
    f = ReconciliationFindingRow
    rows = db.execute(
        select(f, SigningRequestRow.id, OrganizationRow.name)
        .outerjoin(SigningRequestRow, SigningRequestRow.id == f.signing_request_id)
        .outerjoin(OrganizationRow, OrganizationRow.code == f.organization_code)
        .where(f.outcome == Outcome.operator.value, f.resolved_at.is_(None),
               or_(SigningRequestRow.id.is_(None),
                   SigningRequestRow.state.not_in([s.value for s in FINAL_STATES])))
        .order_by(f.found_at.desc(), f.id.desc()).limit(limit)).all()
    return [OpenFinding(found_at=row.found_at, signing_request_id=row.signing_request_id,
                        request_known=known is not None, transaction_id=row.transaction_id,
                        organization=name or row.organization_code or "—",
                        local_state=row.local_state, detail=row.detail)
            for row, known, name in rows]


# The overview counts ended requests over this recent window only: they are years of
# history, and a count of all of them would read the whole table at every refresh.
ENDED_WINDOW = timedelta(days=1)


def count_by_state(db: Session, *, now: datetime, most: int | None = None) -> dict[str, int]:
    """Requests by state: every open one (failed and waiting for the signer check included:
    an operator's work), and those in a final state created within ``ENDED_WINDOW``. Each
    state is one range of ``(state, created_at, id)``: the cost of the open work and of a
    day, never of the history. ``most``: count each state up to ``most + 1`` only (more than
    ``most``: years of failures nobody cleared cost a page no more than that). One statement:
    a branch per state."""
    R = SigningRequestRow  # noqa: N806
    branches = []
    for state in SigningState:
        query = select(R.state).where(R.state == state.value)
        if state in FINAL_STATES:
            query = query.where(R.created_at >= now - ENDED_WINDOW)
        if most is not None:  # in the index's order: the planner walks it, no further
            query = query.order_by(R.created_at, R.id).limit(most + 1)
        branch = query.subquery()
        branches.append(select(branch.c.state))
    every = union_all(*branches).subquery()
    found = db.execute(select(every.c.state, func.count()).group_by(every.c.state)).all()
    return {state: int(count) for state, count in found if count}


# -- notifications ------------------------------------------------------------------------

@dataclass(frozen=True)
class NotificationFilter:
    state: str | None = None
    organization: str | None = None
    appointment_from: datetime | None = None
    appointment_to: datetime | None = None


@dataclass(frozen=True)
class NotificationView:
    state: str
    state_title: str
    appointment_id: str
    organization: str
    patient_id: str
    starts_at: datetime
    scheduled_for: datetime | None
    sent_at: datetime | None
    choice: str | None
    reason: str | None


@dataclass(frozen=True)
class NotificationCursor:
    """Where a page of ``notifications`` starts: after (``backward`` False) or before the row
    keyed (appointment start, appointment id, notification id), newest first."""

    starts_at: datetime
    appointment: int
    notification: int
    backward: bool = False

    def encode(self) -> str:
        return paging.encode({"s": self.starts_at.isoformat(), "a": self.appointment,
                              "n": self.notification, "b": self.backward})

    @classmethod
    def decode(cls, token: str) -> NotificationCursor | None:
        """The cursor ``encode`` made, or None (the first page) for anything else."""
        data = paging.decode(token)
        if data is None or not all(type(data.get(k)) is int for k in ("a", "n")):
            return None
        at = paging.moment(data.get("s"))
        return None if at is None else cls(at, data["a"], data["n"], data.get("b") is True)


@dataclass(frozen=True)
class NotificationPage:
    rows: list[NotificationView]
    previous: NotificationCursor | None  # None: this is the first page
    next: NotificationCursor | None  # None: this is the last page


def notifications(db: Session, *, where: NotificationFilter, cursor: NotificationCursor | None,
                  limit: int) -> NotificationPage:
    """Newest appointment first, keyset-paged on (appointment start, appointment id,
    notification id). The appointments' start is the index bound — walked backwards on
    ``ix_appointments_starts_at`` (``ix_appointments_org_starts`` for one МО), the few rows of
    one start put in order as they come — and each appointment's notifications come by
    ``appointment_id``: a deep page costs what the first one does."""
    n, a = NotificationRow, AppointmentRow
    query = (select(n, a.external_id, OrganizationRow.code, PatientRow.external_id, a.starts_at,
                    a.id)
             .join(a, a.id == n.appointment_id)
             .join(OrganizationRow, OrganizationRow.id == a.organization_id)
             .join(PatientRow, PatientRow.id == n.patient_id))
    if where.state:
        query = query.where(n.state == where.state)
    if where.organization:
        query = query.where(a.organization_id == select(OrganizationRow.id).where(
            OrganizationRow.code == where.organization).scalar_subquery())
    if where.appointment_from is not None:
        query = query.where(a.starts_at >= where.appointment_from)
    if where.appointment_to is not None:
        query = query.where(a.starts_at < where.appointment_to)
    backward = cursor is not None and cursor.backward
    if cursor is not None:
        query = query.where(*_beyond(cursor))
    keys = (a.starts_at, a.id, n.id)
    query = query.order_by(*(k.asc() if backward else k.desc() for k in keys))
    rows = list(db.execute(query.limit(limit + 1)).all())
    more, rows = len(rows) > limit, rows[:limit]
    if backward:
        rows.reverse()
    views = [NotificationView(r[0].state, NOTIFICATION_TITLES.get(r[0].state, r[0].state), r[1],
                              r[2], r[3], r[4], r[0].scheduled_for, r[0].sent_at, r[0].choice,
                              r[0].reason) for r in rows]
    first = NotificationCursor(rows[0][4], rows[0][5], rows[0][0].id, backward=True) \
        if rows else None
    last = NotificationCursor(rows[-1][4], rows[-1][5], rows[-1][0].id) if rows else None
    has_previous = more if backward else cursor is not None
    has_next = cursor is not None if backward else more
    return NotificationPage(views, first if has_previous else None, last if has_next else None)


def _beyond(cursor: NotificationCursor) -> tuple[Any, Any]:
    """Rows past the cursor: the appointments' (start, id) bound the index scan; the
    notification id only parts the rows of the cursor's own appointment."""
    a, n = AppointmentRow, NotificationRow
    row, at = tuple_(a.starts_at, a.id), tuple_(cursor.starts_at, cursor.appointment)
    if cursor.backward:
        return row >= at, or_(row > at, n.id > cursor.notification)
    return row <= at, or_(row < at, n.id < cursor.notification)


# -- audit --------------------------------------------------------------------------------

@dataclass(frozen=True)
class AuditFilter:
    actor: str | None = None
    action: str | None = None
    subject: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def audit_page(db: Session, *, where: AuditFilter, before_id: int | None,
               limit: int) -> list[AuditRow]:
    """Newest first; ``actor``/``action`` match a prefix, ``subject`` the object's id exactly
    (or its type and id as ``type:id``)."""
    query = select(AuditRow)
    if where.actor:
        query = query.where(AuditRow.actor.startswith(where.actor, autoescape=True))
    if where.action:
        query = query.where(AuditRow.action.startswith(where.action, autoescape=True))
    if where.subject:
        query = query.where(_subject(where.subject))
    if where.since is not None:
        query = query.where(AuditRow.at >= where.since)
    if where.until is not None:
        query = query.where(AuditRow.at < where.until)
    if before_id is not None:
        query = query.where(AuditRow.id < before_id)
    return list(db.scalars(query.order_by(AuditRow.id.desc()).limit(limit)))


def _subject(text: str) -> Any:
    kind, _, ident = text.partition(":")
    if ident and kind.isidentifier():
        return or_(AuditRow.subject_id == text,
                   and_(AuditRow.subject_type == kind, AuditRow.subject_id == ident))
    return AuditRow.subject_id == text


@dataclass(frozen=True)
class AuditEntry:
    """One audit record as an operator reads it: names and words, the raw values beside."""

    row: AuditRow
    actor: str
    action: str
    subject: str
    reason: str | None
    details: list[tuple[str, str]]


def audit_entries(db: Session, rows: list[AuditRow]) -> list[AuditEntry]:
    who = actors.names(db, {r.actor for r in rows})
    return [_entry(r, who[r.actor]) for r in rows]


def _entry(row: AuditRow, actor: str) -> AuditEntry:
    details = dict(row.details or {})
    reason = details.pop("reason", None)
    return AuditEntry(row, actor, describe_action(row.action, details.get("to")),
                      audit_words.SUBJECT_TITLES.get(row.subject_type, row.subject_type),
                      str(reason) if reason else None, _details(details))


def describe_action(action: str, to_state: object = None) -> str:
    if action.startswith("signing."):
        return action_title(action, str(to_state) if to_state else None)
    return audit_words.action_title(action)


def _details(details: dict[str, Any]) -> list[tuple[str, str]]:
    moved = (details.pop("from", None), details.pop("to", None))
    shown = [("переход", f"{_state(moved[0])} → {_state(moved[1])}")] if moved[1] else []
    for key, value in details.items():
        if value not in (None, "", [], {}):
            shown.append((audit_words.DETAIL_LABELS.get(key, key), _value(key, value)))
    return shown


def _state(value: object) -> str:
    return "—" if value is None else f"«{_state_title(str(value))}»"


def _state_title(value: str) -> str:
    return SigningState(value).title if value in SigningState.__members__ else value


def _value(key: str, value: object) -> str:
    if key == "consents" and isinstance(value, list):
        return ", ".join(ConsentKind(v).title if v in ConsentKind.__members__ else str(v)
                         for v in value)
    if key == "initiated_by":
        return {"doctor": "врач", "patient": "пациент", "mis": "МИС"}.get(str(value), str(value))
    if isinstance(value, bool):
        return "да" if value else "нет"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {v}" for k, v in value.items())
    return str(value)


@dataclass(frozen=True)
class HistoryEntry:
    """One move of a request as staff read it: what happened, by whom (a name), and why."""

    at: datetime
    from_state: str | None
    to_state: str
    what: str
    actor: str
    reason: str | None


def history(db: Session, request_id: str) -> list[HistoryEntry]:
    events = signing.history(db, request_id)
    who = actors.names(db, {e.actor for e in events})
    return [HistoryEntry(e.at, e.from_state, e.to_state, _what(e), who[e.actor], e.reason)
            for e in events]


def _what(event: SigningEventRow) -> str:
    action = str((event.details or {}).get("action") or "")
    return action_title(action, event.to_state)
