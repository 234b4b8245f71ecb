"""Signing requests: start one (doctor or МИС), read them, stop them when the visit is off.

The state machine itself is ``medsign.domain.signing``; this module loads a request into the
domain object, lets it decide, and writes the resulting state and its events (history + audit)
in the caller's transaction, together with the runner's work item (outbox).

Starting is guarded here, once, for every path (the МИС API, the doctor's workstation, the
patient's button in MAX): the appointment's row is locked, an open request refuses a second
one, and a partial unique index (``models.ONE_OPEN_SIGNING_INDEX``) refuses whatever slips
past — its violation becomes the same ``signing_request_active`` conflict. A start that
carries an idempotency key (the API) is replayed here too, under the same lock. An МО that
cannot sign now (its certificate expired, not yet valid, missing: ``availability``) gets no
new request (``mo_signing_unavailable``); every caller passes the process's identity check.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from medsign.db.models import (
    SIGNING_ITEM_KIND,
    AppointmentRow,
    ConsentRow,
    IdempotencyRow,
    OrganizationRow,
    PatientRow,
    SigningEventRow,
    SigningRequestRow,
)
from medsign.domain import webhooks as webhook_rules
from medsign.domain.consents import Consent, ConsentKind, ConsentState, SigningMethod
from medsign.domain.errors import DomainError
from medsign.domain.signer_check import SignerMismatch
from medsign.domain.signing import (
    CancelledBy,
    SigningAction,
    SigningEvent,
    SigningRequest,
    SigningState,
    operator_reason,
)
from medsign.errors import Conflict, NotFound, Unprocessable
from medsign.notifications import service as notifications
from medsign.records import appointments as appointment_records
from medsign.records import audit, organizations, paging
from medsign.records import mapping as records
from medsign.records.scope import Scope
from medsign.runner import store
from medsign.signing import availability, repository
from medsign.signing.availability import IdentityCheck

# Re-exported: callers filter and read requests through the service.
from medsign.signing.repository import ListFilter as ListFilter
from medsign.signing.repository import RequestView as RequestView
from medsign.webhooks import outbox as webhook_outbox

SIGNING_KIND = SIGNING_ITEM_KIND  # one per request while open: a unique index of the runner's
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
        announce(db, row, organization_code=request.organization_code,
                 appointment_external_id=request.appointment_external_id,
                 from_state=event.from_state, to_state=event.to_state, action=event.action,
                 reason=event.reason, now=now)
    return events


def announce(db: Session, row: SigningRequestRow, *, organization_code: str,
             appointment_external_id: str, from_state: str | None, to_state: str,
             action: str, reason: str | None, now: datetime) -> None:
    """Tell the МИС (webhooks) about one move of a request, in the move's transaction:
    ``signing_request.state_changed`` and, for an ending, its own event; a completion
    carries the addresses of the signed documents."""
    kinds = webhook_rules.signing_events(from_state, to_state, action)
    if not kinds:
        return
    base = f"/api/v1/signing-requests/{row.id}"
    data: dict[str, Any] = {
        "signing_request": row.id, "organization": organization_code,
        "appointment": appointment_external_id, "previous_state": from_state,
        "state": to_state, "state_title": SigningState(to_state).title, "reason": reason,
        "at": now.astimezone(UTC).isoformat().replace("+00:00", "Z"), "url": base}
    for kind in kinds:
        payload = dict(data)
        if kind is webhook_rules.EventType.completed:
            payload["documents_url"] = f"{base}/documents"
            # by number (one document per consent signed): the archive may not be stored
            # yet in this transaction, and an event must never hold up the move it tells of
            payload["documents"] = [
                {"number": n, "pdf": f"{base}/documents/{n}/pdf",
                 "patient_signature": f"{base}/documents/{n}/patient-signature",
                 "mo_signature": f"{base}/documents/{n}/mo-signature"}
                for n in range(1, len(row.consent_kinds) + 1)]
        webhook_outbox.emit(db, kind, organization_id=row.organization_id,
                            organization_code=organization_code, subject_id=row.id,
                            data=payload, now=now)


@dataclass(frozen=True)
class StartRequest:
    organization_code: str  # the МИС's appointment ids are unique within it only
    appointment_external_id: str
    consent_kinds: Sequence[str] | None
    initiated_by: str
    api_client_id: int | None = None
    idempotency_key: str | None = None


def start(db: Session, *, scope: Scope, command: StartRequest, identities: IdentityCheck,
          now: datetime) -> SigningRequestRow:
    """Start signing the appointment's electronic consents now (flows A and B).

    Every path that starts signing comes here: the appointment's row is locked first, so
    concurrent starts for one appointment queue up and the second sees the first."""
    appt, org, patient = appointment_records.locate(
        db, scope=scope, organization=command.organization_code,
        external_id=command.appointment_external_id, lock=True)
    return _start_locked(db, scope, command, (appt, org, patient), identities, now)


def _start_locked(db: Session, scope: Scope, command: StartRequest,
                  found: tuple[AppointmentRow, OrganizationRow, PatientRow],
                  identities: IdentityCheck, now: datetime) -> SigningRequestRow:
    appt, org, patient = found
    if appt.status != "scheduled":
        raise Conflict("appointment_cancelled", "Запись на приём отменена: подписание невозможно.")
    _refuse_if_open(db, appt)
    # Before the phone: a patient asked for it would only be refused after sharing it.
    availability.require_usable(identities, org, now=now)
    if not patient.phone:
        raise Unprocessable("patient_phone_missing",
                            "У пациента не указан телефон, с которым он зарегистрирован в MAX.")
    consents = _consents_to_sign(db, appt, command.consent_kinds)
    row = _insert(db, appt, org, patient, consents, command, now)
    for consent in consents:
        records.change_consent(consent, Consent.start_signing, now=now)
    request = to_domain(row, appointment_external_id=appt.external_id,
                        organization_code=org.code)
    db.add(SigningEventRow(signing_request_id=row.id, at=now, from_state=None, to_state="new",
                           actor=scope.actor, reason=None,
                           details={"action": SigningAction.created.value}))
    audit.record(db, at=now, actor=scope.actor, action=SigningAction.created.value,
                 subject_type="signing_request", subject_id=row.id, organization_code=org.code,
                 details={"appointment": appt.external_id, "consents": row.consent_kinds,
                          "initiated_by": request.initiated_by})
    announce(db, row, organization_code=org.code, appointment_external_id=appt.external_id,
             from_state=None, to_state=row.state, action=SigningAction.created.value,
             reason=None, now=now)
    store.enqueue(db.connection(), kind=SIGNING_KIND, step=FIRST_STEP, ref=row.id, now=now)
    return row


def _refuse_if_open(db: Session, appt: AppointmentRow) -> None:
    found = repository.open_request(db, appt.id)
    if found is not None:
        raise _open_conflict(found)


def _open_conflict(found: SigningRequestRow | None) -> Conflict:
    """``signing_request_active``: a stopped (failed) request holds the appointment too, until
    an operator retries or cancels it."""
    if found is not None and found.state == SigningState.failed:
        message = ("По этой записи на приём подписание остановлено с ошибкой: оператор должен "
                   "повторить или отменить его.")
    else:
        message = "По этой записи на приём подписание уже идёт."
    return Conflict("signing_request_active", message,
                    signing_request=found.id if found is not None else None)


def _consents_to_sign(db: Session, appt: AppointmentRow,
                      kinds: Sequence[str] | None) -> list[ConsentRow]:
    rows = appointment_records.consents_of(db, appt)
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
    """Insert the request in a savepoint: when the database refuses it (a second open request
    for the appointment, or a twin's idempotency key), the caller's transaction goes on and
    gets the conflict."""
    row = SigningRequestRow(
        id=str(uuid.uuid4()), appointment_id=appt.id, organization_id=org.id,
        patient_id=patient.id, consent_kinds=sorted(c.kind for c in consents),
        phone=patient.phone, initiated_by=command.initiated_by, state="new",
        uploaded_file_ids=[], api_client_id=command.api_client_id,
        idempotency_key=command.idempotency_key, created_at=now, updated_at=now)
    try:
        with db.begin_nested():
            db.add(row)
            db.flush()
    except IntegrityError:
        found = repository.open_request(db, appt.id)
        if found is not None:
            raise _open_conflict(found) from None
        if command.idempotency_key is not None:
            raise _key_in_progress() from None
        raise
    return row


# -- idempotent start (the МИС API's Idempotency-Key) ---------------------------------------

@dataclass(frozen=True)
class Started:
    """The answer to an idempotent start: the request and the body first answered for it."""

    request_id: str
    body: dict[str, Any]
    replayed: bool


def start_once(db: Session, *, scope: Scope, command: StartRequest, identities: IdentityCheck,
               now: datetime, answer: Callable[[RequestView], dict[str, Any]]) -> Started:
    """``start``, replayable: with ``command.idempotency_key`` a repeat of the same request
    gets the stored answer (``answer`` renders it the first time) and starts nothing.

    The replay is looked up again under the appointment's lock: a concurrent twin that got
    the lock first has committed its answer by then."""
    fingerprint = _fingerprint(command)
    replay = _replay(db, command, fingerprint)
    if replay is not None:
        return replay
    appt, org, patient = appointment_records.locate(
        db, scope=scope, organization=command.organization_code,
        external_id=command.appointment_external_id, lock=True)
    replay = _replay(db, command, fingerprint)
    if replay is not None:
        return replay
    row = _start_locked(db, scope, command, (appt, org, patient), identities, now)
    body = answer(get(db, scope=scope, request_id=row.id))
    _remember(db, command, fingerprint, body, now)
    return Started(row.id, body, replayed=False)


def _fingerprint(command: StartRequest) -> str:
    """What a repeat must match: the appointment (with its organisation) and the body."""
    kinds = None if command.consent_kinds is None else {"consents": list(command.consent_kinds)}
    raw = json.dumps([command.organization_code, command.appointment_external_id, kinds],
                     sort_keys=True)
    return hashlib.sha256(raw.encode()).hexdigest()


def _replay(db: Session, command: StartRequest, fingerprint: str) -> Started | None:
    if command.idempotency_key is None or command.api_client_id is None:
        return None
    stored = repository.idempotency_record(db, api_client_id=command.api_client_id,
                                           key=command.idempotency_key)
    if stored is None:
        return None
    if stored.request_hash != fingerprint:
        raise Unprocessable("idempotency_key_reused",
                            "Этот Idempotency-Key уже использован с другим запросом.")
    return Started(str(stored.body["id"]), dict(stored.body), replayed=True)


def _remember(db: Session, command: StartRequest, fingerprint: str, body: dict[str, Any],
              now: datetime) -> None:
    if command.idempotency_key is None or command.api_client_id is None:
        return
    db.add(IdempotencyRow(api_client_id=command.api_client_id, key=command.idempotency_key,
                          request_hash=fingerprint, status_code=201, body=body,
                          created_at=now))
    try:
        db.flush()
    except IntegrityError:  # a concurrent twin won the race; its answer stands
        raise _key_in_progress() from None


def _key_in_progress() -> Conflict:
    return Conflict("idempotency_in_progress",
                    "Запрос с этим Idempotency-Key уже выполняется; повторите позже.")


def cancel_for_appointment(db: Session, *, appt: AppointmentRow, org_code: str, actor: str,
                           reason: str, now: datetime) -> int:
    """Stop every unfinished request of an appointment (and their runner items)."""
    count = 0
    for row in repository.open_requests(db, appt.id):
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
class Cursor:
    """Where a page of ``list_requests`` ends: the last request's (created_at, id)."""

    created_at: datetime
    id: str

    def encode(self) -> str:
        return paging.encode({"c": self.created_at.isoformat(), "i": self.id})

    @classmethod
    def decode(cls, token: str) -> Cursor | None:
        """The cursor ``encode`` made, or None for anything else."""
        data = paging.decode(token)
        if data is None or not paging.is_id(data.get("i")):
            return None
        try:
            created = datetime.fromisoformat(data["c"])
            created.astimezone(UTC)  # representable in UTC, as the database keeps it
        except (ValueError, KeyError, TypeError, OverflowError):
            return None
        return cls(created, data["i"]) if created.tzinfo is not None else None


def list_requests(db: Session, *, scope: Scope, where: ListFilter, after: Cursor | None,
                  limit: int) -> list[RequestView]:
    """Newest first, keyset-paginated on (created_at, id)."""
    if where.organization is not None:
        scope.require(where.organization)
    return repository.page(db, where=where, organization_ids=organizations.ids_in_scope(db, scope),
                           after=None if after is None else (after.created_at, after.id),
                           limit=limit)


def get(db: Session, *, scope: Scope, request_id: str) -> RequestView:
    found = repository.view(db, request_id=request_id)
    if found is None or not scope.allows(found.organization_code):
        raise NotFound("signing_request_not_found",
                       f"Транзакция подписания «{request_id}» не найдена.")
    return found


def signer_mismatches(db: Session, request_ids: Sequence[str]) -> dict[str, SignerMismatch]:
    """Both identities of each request that stopped on ``signer_mismatch`` (the platform's
    signer and the patient record), from the event that stopped it."""
    if not request_ids:
        return {}
    events = repository.mismatch_events(db, request_ids)
    return {e.signing_request_id: SignerMismatch.from_json(e.details["signer_mismatch"])
            for e in events if isinstance((e.details or {}).get("signer_mismatch"), dict)}


def history(db: Session, request_id: str) -> list[SigningEventRow]:
    return repository.history(db, request_id)


# -- operator actions ---------------------------------------------------------------------

def retry(db: Session, *, scope: Scope, request_id: str, now: datetime,
          reason: str | None = None) -> RequestView:
    """Resume a ``failed`` request at the step where it failed (audited, with ``reason``)."""
    view = get(db, scope=scope, request_id=request_id)
    request = to_domain(view.row, appointment_external_id=view.appointment_external_id,
                        organization_code=view.organization_code)
    if request.state is SigningState.signer_mismatch:
        raise Conflict("signer_mismatch",
                       "Подписант не совпадает с пациентом: повтор подписал бы документы того же "
                       "человека. Отмените транзакцию, исправьте телефон или данные пациента и "
                       "начните подписание заново.", state=request.state.value)
    if request.state is not SigningState.failed:
        raise Conflict("not_failed", "Повторить можно только транзакцию в состоянии «ошибка».",
                       state=request.state.value)
    item_id = repository.work_item_id(db, kind=SIGNING_KIND, request_id=request_id)
    if item_id is None or not store.operator_retry(db.connection(), item_id, now=now).ok:
        raise Conflict("not_retryable", "Фоновая работа этой транзакции не в состоянии ошибки.")
    request.retry(reason)
    save(db, view.row, request, actor=scope.actor, now=now)
    return view


def retry_by_operator(db: Session, *, scope: Scope, request_id: str, now: datetime,
                      reason: str) -> RequestView:
    """The console's retry: ``reason`` is required (``domain.signing.operator_reason``)."""
    return retry(db, scope=scope, request_id=request_id, now=now,
                 reason=_operator_reason(reason, "Причина повтора"))


def cancel_by_operator(db: Session, *, scope: Scope, request_id: str, now: datetime,
                       reason: str) -> RequestView:
    """The console's cancel: ``reason`` is required (``domain.signing.operator_reason``)."""
    return cancel(db, scope=scope, request_id=request_id, by=CancelledBy.operator, now=now,
                  reason=_operator_reason(reason, "Причина отмены"))


def _operator_reason(raw: str, label: str) -> str:
    try:
        return operator_reason(raw, label)
    except DomainError as exc:
        raise Unprocessable(exc.code, exc.message, field=exc.field) from exc


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
    for consent in repository.consents_in_signing(db, view.row):
        records.change_consent(consent, Consent.abort_signing, now=now)
    return view
