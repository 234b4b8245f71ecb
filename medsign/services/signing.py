"""Signing requests: start one (doctor or МИС), read them, stop them when the visit is off.

The state machine itself is ``medsign.domain.signing``; this module loads a request into the
domain object, lets it decide, and writes the resulting state and its events (history + audit)
in the caller's transaction, together with the runner's work item (outbox).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import Session

from medsign.db.models import (
    AppointmentRow,
    ConsentRow,
    OrganizationRow,
    PatientRow,
    SigningEventRow,
    SigningRequestRow,
    WorkItemRow,
)
from medsign.domain.consents import ConsentKind, ConsentState, SigningMethod
from medsign.domain.signing import (
    STOPPED_STATES,
    CancelledBy,
    SigningAction,
    SigningEvent,
    SigningRequest,
    SigningState,
)
from medsign.runner import store
from medsign.services import audit, notifications, organizations
from medsign.services.errors import Conflict, NotFound, Unprocessable
from medsign.services.scope import Scope

SIGNING_KIND = "signing"
FIRST_STEP = "send"


def to_domain(row: SigningRequestRow, *, appointment_external_id: str,
              organization_code: str) -> SigningRequest:
    return SigningRequest(
        id=row.id, appointment_external_id=appointment_external_id,
        organization_code=organization_code,
        consent_kinds=[ConsentKind(k) for k in row.consent_kinds], phone=row.phone,
        initiated_by=row.initiated_by, state=SigningState(row.state),
        transaction_id=row.transaction_id, zip_file_id=row.zip_file_id,
        uploaded_file_ids=list(row.uploaded_file_ids or []),
        completion_file_id=row.completion_file_id,
        failed_from=SigningState(row.failed_from) if row.failed_from else None,
        reason=row.reason)


def save(db: Session, row: SigningRequestRow, request: SigningRequest, *, actor: str,
         now: datetime) -> list[SigningEvent]:
    """Write the domain object's state back and drain its events into history and audit.

    Each event is audited under its own action (``signing.retried``, ``signing.refused``, …,
    as the domain named it); the drained events are returned for whoever tells the patient."""
    row.state, row.transaction_id = request.state.value, request.transaction_id
    row.zip_file_id, row.uploaded_file_ids = request.zip_file_id, list(request.uploaded_file_ids)
    row.completion_file_id, row.reason = request.completion_file_id, request.reason
    row.failed_from = request.failed_from.value if request.failed_from else None
    row.updated_at = now
    if request.state is SigningState.completed:
        row.completed_at = now
    events = request.drain_events()
    for event in events:
        db.add(SigningEventRow(signing_request_id=row.id, at=now, from_state=event.from_state,
                               to_state=event.to_state, actor=actor, reason=event.reason,
                               details={**event.details, "action": event.action}))
        audit.record(db, at=now, actor=actor, action=event.action,
                     subject_type="signing_request", subject_id=row.id,
                     organization_code=request.organization_code,
                     details={"from": event.from_state, "to": event.to_state,
                              "reason": event.reason})
    return events


@dataclass(frozen=True)
class StartRequest:
    appointment_external_id: str
    consent_kinds: Sequence[str] | None
    initiated_by: str
    api_client_id: int | None = None
    idempotency_key: str | None = None


def start(db: Session, *, scope: Scope, command: StartRequest, now: datetime) -> SigningRequestRow:
    """Start signing the appointment's electronic consents now (flow B)."""
    appt, org, patient = _load_appointment(db, scope, command.appointment_external_id)
    if appt.status != "scheduled":
        raise Conflict("appointment_cancelled", "Запись на приём отменена: подписание невозможно.")
    if not patient.phone:
        raise Unprocessable("patient_phone_missing",
                            "У пациента не указан телефон, с которым он зарегистрирован в MAX.")
    _refuse_if_active(db, appt)
    consents = _consents_to_sign(db, appt, command.consent_kinds)
    row = _insert(db, appt, org, patient, consents, command, now)
    request = to_domain(row, appointment_external_id=appt.external_id,
                        organization_code=org.code)
    db.add(SigningEventRow(signing_request_id=row.id, at=now, from_state=None, to_state="new",
                           actor=scope.actor, reason=None,
                           details={"action": SigningAction.created.value}))
    audit.record(db, at=now, actor=scope.actor, action=SigningAction.created.value,
                 subject_type="signing_request", subject_id=row.id, organization_code=org.code,
                 details={"appointment": appt.external_id, "consents": row.consent_kinds,
                          "initiated_by": request.initiated_by})
    store.enqueue(db.connection(), kind=SIGNING_KIND, step=FIRST_STEP, ref=row.id, now=now)
    return row


def _load_appointment(db: Session, scope: Scope,
                      external_id: str) -> tuple[AppointmentRow, OrganizationRow, PatientRow]:
    appt = db.scalars(select(AppointmentRow)
                      .where(AppointmentRow.external_id == external_id)).first()
    org = db.get(OrganizationRow, appt.organization_id) if appt else None
    if appt is None or org is None or not scope.allows(org.code):
        raise NotFound("appointment_not_found", f"Запись на приём «{external_id}» не найдена.")
    patient = db.get(PatientRow, appt.patient_id)
    assert patient is not None  # a foreign key guarantees it
    return appt, org, patient


def _refuse_if_active(db: Session, appt: AppointmentRow) -> None:
    active = db.scalars(select(SigningRequestRow.id).where(
        SigningRequestRow.appointment_id == appt.id,
        SigningRequestRow.state.not_in([s.value for s in STOPPED_STATES]))).first()
    if active is not None:
        raise Conflict("signing_request_active",
                       "По этой записи на приём подписание уже идёт.", signing_request=active)


def _consents_to_sign(db: Session, appt: AppointmentRow,
                      kinds: Sequence[str] | None) -> list[ConsentRow]:
    rows = list(db.scalars(select(ConsentRow).where(ConsentRow.appointment_id == appt.id)))
    open_electronic = [c for c in rows if c.signing_method == SigningMethod.electronic
                       and c.state == ConsentState.pending]
    if kinds is not None:
        wanted = set(kinds)
        open_electronic = [c for c in open_electronic if c.kind in wanted]
        missing = wanted - {c.kind for c in open_electronic}
        if missing:
            raise Unprocessable("consent_not_signable",
                                "Эти документы нельзя отправить на подписание (нет в записи, "
                                "на бумаге или уже подписаны): " + ", ".join(sorted(missing)))
    if not open_electronic:
        raise Unprocessable("no_electronic_consents",
                            "В записи нет документов, ожидающих электронного подписания.")
    return open_electronic


def _insert(db: Session, appt: AppointmentRow, org: OrganizationRow, patient: PatientRow,
            consents: list[ConsentRow], command: StartRequest,
            now: datetime) -> SigningRequestRow:
    for consent in consents:
        consent.state, consent.updated_at = ConsentState.in_signing.value, now
    row = SigningRequestRow(
        id=str(uuid.uuid4()), appointment_id=appt.id, organization_id=org.id,
        patient_id=patient.id, consent_kinds=sorted(c.kind for c in consents),
        phone=patient.phone, initiated_by=command.initiated_by, state="new",
        uploaded_file_ids=[], api_client_id=command.api_client_id,
        idempotency_key=command.idempotency_key, created_at=now, updated_at=now)
    db.add(row)
    db.flush()
    return row


def cancel_for_appointment(db: Session, *, appt: AppointmentRow, org_code: str, actor: str,
                           reason: str, now: datetime) -> int:
    """Stop every unfinished request of an appointment (and their runner items)."""
    rows = db.scalars(select(SigningRequestRow).where(
        SigningRequestRow.appointment_id == appt.id,
        SigningRequestRow.state.not_in([s.value for s in STOPPED_STATES - {SigningState.failed}])))
    count = 0
    for row in rows:
        request = to_domain(row, appointment_external_id=appt.external_id,
                            organization_code=org_code)
        request.cancel(reason, by=CancelledBy.appointment)
        notifications.tell_patient(db, row, save(db, row, request, actor=actor, now=now), now)
        store.cancel_for_ref(db.connection(), kind=SIGNING_KIND, ref=row.id, now=now,
                             reason=reason)
        count += 1
    return count


# -- reading ------------------------------------------------------------------------------

@dataclass(frozen=True)
class ListFilter:
    states: Sequence[str] = ()
    organization: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    appointment_from: datetime | None = None
    appointment_to: datetime | None = None


@dataclass(frozen=True)
class Cursor:
    created_at: datetime
    id: str


@dataclass(frozen=True)
class RequestView:
    row: SigningRequestRow
    appointment_external_id: str
    organization_code: str
    patient_external_id: str
    appointment_starts_at: datetime


_VIEW = (select(SigningRequestRow, AppointmentRow.external_id, OrganizationRow.code,
                PatientRow.external_id, AppointmentRow.starts_at)
         .join(AppointmentRow, AppointmentRow.id == SigningRequestRow.appointment_id)
         .join(OrganizationRow, OrganizationRow.id == SigningRequestRow.organization_id)
         .join(PatientRow, PatientRow.id == SigningRequestRow.patient_id))


def list_requests(db: Session, *, scope: Scope, where: ListFilter, after: Cursor | None,
                  limit: int) -> list[RequestView]:
    """Newest first, keyset-paginated on (created_at, id)."""
    query: Select[Any] = _VIEW  # type: ignore[assignment]  # widen the row shape
    if where.organization is not None:
        scope.require(where.organization)
        query = query.where(OrganizationRow.code == where.organization)
    org_ids = organizations.ids_in_scope(db, scope)
    if org_ids is not None:
        query = query.where(SigningRequestRow.organization_id.in_(org_ids))
    query = _filters(query, where)
    if after is not None:
        query = query.where(or_(SigningRequestRow.created_at < after.created_at,
                                and_(SigningRequestRow.created_at == after.created_at,
                                     SigningRequestRow.id < after.id)))
    query = query.order_by(SigningRequestRow.created_at.desc(), SigningRequestRow.id.desc())
    return [RequestView(*r) for r in db.execute(query.limit(limit)).all()]


def _filters(query: Select[Any], where: ListFilter) -> Select[Any]:
    R, A = SigningRequestRow, AppointmentRow  # noqa: N806
    if where.states:
        query = query.where(R.state.in_(list(where.states)))
    if where.created_from is not None:
        query = query.where(R.created_at >= where.created_from)
    if where.created_to is not None:
        query = query.where(R.created_at < where.created_to)
    if where.appointment_from is not None:
        query = query.where(A.starts_at >= where.appointment_from)
    if where.appointment_to is not None:
        query = query.where(A.starts_at < where.appointment_to)
    return query


def get(db: Session, *, scope: Scope, request_id: str) -> RequestView:
    found = db.execute(_VIEW.where(SigningRequestRow.id == request_id)).first()
    if found is None or not scope.allows(found[2]):
        raise NotFound("signing_request_not_found",
                       f"Транзакция подписания «{request_id}» не найдена.")
    return RequestView(*found)


def history(db: Session, request_id: str) -> list[SigningEventRow]:
    return list(db.scalars(select(SigningEventRow)
                           .where(SigningEventRow.signing_request_id == request_id)
                           .order_by(SigningEventRow.id)))


# -- operator actions ---------------------------------------------------------------------

def _work_item_id(db: Session, request_id: str) -> int | None:
    item: int | None = db.scalars(select(WorkItemRow.id).where(
        WorkItemRow.kind == SIGNING_KIND, WorkItemRow.ref == request_id)
        .order_by(WorkItemRow.id.desc())).first()
    return item


def retry(db: Session, *, scope: Scope, request_id: str, now: datetime,
          reason: str | None = None) -> RequestView:
    """Resume a ``failed`` request at the step where it failed (audited, with ``reason``)."""
    view = get(db, scope=scope, request_id=request_id)
    request = to_domain(view.row, appointment_external_id=view.appointment_external_id,
                        organization_code=view.organization_code)
    if request.state is not SigningState.failed:
        raise Conflict("not_failed", "Повторить можно только транзакцию в состоянии «ошибка».",
                       state=request.state.value)
    item_id = _work_item_id(db, request_id)
    if item_id is None or not store.operator_retry(db.connection(), item_id, now=now).ok:
        raise Conflict("not_retryable", "Фоновая работа этой транзакции не в состоянии ошибки.")
    request.retry(reason)
    save(db, view.row, request, actor=scope.actor, now=now)
    return view


def cancel(db: Session, *, scope: Scope, request_id: str, reason: str, by: CancelledBy,
           now: datetime) -> RequestView:
    """Stop a request that has not ended; its runner item is fenced out (audited as ``by``'s
    cancel). The patient is told that the clinic cancelled it, never ``reason``."""
    view = get(db, scope=scope, request_id=request_id)
    request = to_domain(view.row, appointment_external_id=view.appointment_external_id,
                        organization_code=view.organization_code)
    if not request.can_transition(SigningState.cancelled):
        raise Conflict("already_ended", "Транзакция уже завершена.", state=request.state.value)
    request.cancel(reason, by=by)
    events = save(db, view.row, request, actor=scope.actor, now=now)
    notifications.tell_patient(db, view.row, events, now)
    store.cancel_for_ref(db.connection(), kind=SIGNING_KIND, ref=request_id, now=now,
                         reason=reason)
    for consent in db.scalars(select(ConsentRow).where(
            ConsentRow.appointment_id == view.row.appointment_id,
            ConsentRow.kind.in_(list(view.row.consent_kinds)),
            ConsentRow.state == ConsentState.in_signing.value)):
        consent.state, consent.updated_at = ConsentState.pending.value, now
    return view
