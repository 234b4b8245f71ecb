"""The doctor's follow-up after online signing ended without a signature
(``domain.follow_up``): «Отправить ещё раз» starts a new request through ``service.start``, the
one rule for starting; «На бумаге» moves the pending electronic documents to paper through
``patient_choice.sign_on_paper``, the patient's «Подпишу в клинике». Both lock the appointment
first, refuse when its latest request does not allow them, let the documents the patient
refused wait again (``Consent.reopen``; a refusal or a failure to start rolls back with the
caller's transaction), and are audited with the doctor as the actor.

Nothing here commits: the page's request does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from medsign.db.models import AppointmentRow, ConsentRow, SigningEventRow, SigningRequestRow
from medsign.domain.consents import Consent, ConsentKind, ConsentState, SigningMethod
from medsign.domain.follow_up import follow_up_blocker
from medsign.domain.patient_choice import Outcome
from medsign.errors import Conflict
from medsign.records import appointments as appointment_records
from medsign.records import audit
from medsign.records import mapping as records
from medsign.records.scope import Scope
from medsign.signing import patient_choice, repository
from medsign.signing import service as signing
from medsign.signing.availability import IdentityCheck


@dataclass(frozen=True)
class Latest:
    """The appointment's latest signing request and the action of its last move."""

    request: SigningRequestRow | None
    last_action: str | None
    waiting: list[ConsentRow]  # its documents that may be sent again or moved to paper

    @property
    def blocker(self) -> str | None:
        return follow_up_blocker(self.request.state if self.request else None, self.last_action,
                                 bool(self.waiting))


def latest(db: Session, appointment: AppointmentRow) -> Latest:
    """The open request if there is one (it holds the appointment), else the newest."""
    request = repository.open_request(db, appointment.id) or db.scalars(
        select(SigningRequestRow).where(SigningRequestRow.appointment_id == appointment.id)
        .order_by(SigningRequestRow.created_at.desc(), SigningRequestRow.id.desc())
        .limit(1)).first()
    if request is None:
        return Latest(None, None, [])
    event = db.scalars(select(SigningEventRow)
                       .where(SigningEventRow.signing_request_id == request.id)
                       .order_by(SigningEventRow.id.desc()).limit(1)).first()
    action = (event.details or {}).get("action") if event is not None else None
    asked = set(request.consent_kinds)
    waiting = [c for c in appointment_records.consents_of(db, appointment)
               if c.kind in asked and c.signing_method == SigningMethod.electronic
               and c.state in (ConsentState.pending, ConsentState.declined)]
    return Latest(request, action if isinstance(action, str) else None, waiting)


def resend(db: Session, *, scope: Scope, organization: str, appointment_id: str,
           identities: IdentityCheck, now: datetime) -> SigningRequestRow:
    """«Отправить ещё раз»: a new request for the documents waiting again."""
    appt, previous = _allowed(db, scope, organization, appointment_id, now)
    command = signing.StartRequest(organization_code=organization,
                                   appointment_external_id=appointment_id,
                                   consent_kinds=None, initiated_by="doctor")
    row = signing.start(db, scope=scope, command=command, identities=identities, now=now)
    _audit(db, scope, appt, organization, "appointment.resent_by_doctor", now,
           {"previous": previous.id, "request_id": row.id})
    return row


def to_paper(db: Session, *, scope: Scope, organization: str, appointment_id: str,
             now: datetime) -> list[ConsentKind]:
    """«На бумаге»: the documents waiting for an electronic signature, now on paper."""
    appt, previous = _allowed(db, scope, organization, appointment_id, now)
    decision = patient_choice.sign_on_paper(db, appointment_id=appt.id, now=now)
    if decision.outcome is not Outcome.paper or not decision.kinds:
        raise Conflict("no_electronic_consents",
                       "В записи нет документов, ожидающих электронного подписания.")
    kinds = list(decision.kinds)
    _audit(db, scope, appt, organization, "appointment.paper_by_doctor", now,
           {"previous": previous.id, "consents": [k.value for k in kinds]})
    return kinds


def _allowed(db: Session, scope: Scope, organization: str, appointment_id: str,
             now: datetime) -> tuple[AppointmentRow, SigningRequestRow]:
    """Lock the appointment, check the rule, and let the documents the patient refused wait
    again (an expiry left them waiting already)."""
    appt, _, _ = appointment_records.locate(db, scope=scope, organization=organization,
                                            external_id=appointment_id, lock=True)
    found = latest(db, appt)
    blocker = found.blocker
    if blocker is not None or found.request is None:
        raise Conflict("follow_up_not_allowed", f"Действие недоступно: {blocker}.")
    for consent in found.waiting:
        if consent.state == ConsentState.declined:
            records.change_consent(consent, Consent.reopen, now=now)
    return appt, found.request


def _audit(db: Session, scope: Scope, appt: AppointmentRow, organization: str, action: str,
           now: datetime, details: dict[str, object]) -> None:
    audit.record(db, at=now, actor=scope.actor, action=action, subject_type="appointment",
                 subject_id=appt.external_id, organization_code=organization, details=details)
