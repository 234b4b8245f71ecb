"""The patient's decision about an appointment's documents, carried out once for every place
it is made: the MAX buttons (``bot.updates``) and the patient's pages (app and portal).

«Подписать онлайн» starts signing through ``service.start`` (``initiated_by="patient"``);
«Подпишу в клинике» moves the pending electronic documents to paper. Either way the choice is
recorded on the appointment's open invitation by compare-and-set, so the invitation's MAX
buttons stop acting and a second press — in MAX or on a page — counts once. A choice made on
a page also edits the invitation in the patient's MAX chat as a press would (the buttons go,
the text says what was chosen), so the chat never offers what is already decided. When online
signing cannot start for something that can change (no phone yet, the clinic cannot sign just
now: ``domain.patient_choice.keeps_choice_open``) the choice is released again.

Nothing here commits: the caller's transaction (the runner's step, the page's request) does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from medsign.db.integrity import get_existing
from medsign.db.models import AppointmentRow, ConsentRow, NotificationRow, OrganizationRow
from medsign.domain import bot
from medsign.domain.bot import Choice
from medsign.domain.consents import Consent, ConsentKind, ConsentState, SigningMethod
from medsign.domain.patient_choice import Outcome, keeps_choice_open, refusal_outcome
from medsign.errors import ServiceError
from medsign.notifications import service as notifications
from medsign.records import mapping as records
from medsign.records.scope import Scope
from medsign.signing import service as signing
from medsign.signing.availability import IdentityCheck
from medsign.webhooks import outbox as webhook_outbox


@dataclass(frozen=True)
class Decision:
    """What came of the patient's press. ``code``: the service's refusal (never shown to the
    patient as such); ``kinds``: the documents started or moved to paper."""

    outcome: Outcome
    appointment: AppointmentRow
    organization: OrganizationRow
    request_id: str | None = None
    kinds: Sequence[ConsentKind] = field(default_factory=tuple)
    code: str | None = None


def sign_online(db: Session, *, appointment_id: int, actor: str, identities: IdentityCheck,
                now: datetime, invitation: NotificationRow | None = None) -> Decision:
    """Start online signing of the appointment's pending electronic documents.

    ``invitation``: the invitation whose button was pressed (MAX); without it (a page) the
    appointment's open invitation, if any, gets the choice too."""
    appt, org = _appointment(db, appointment_id)
    chosen = _record(db, appt, Choice.sign, now, invitation)
    if chosen is None:
        return Decision(Outcome.already_chosen, appt, org)
    command = signing.StartRequest(organization_code=org.code,
                                   appointment_external_id=appt.external_id,
                                   consent_kinds=None, initiated_by="patient")
    try:
        started = signing.start(db, scope=Scope(actor=actor, organizations=frozenset({org.code})),
                                command=command, identities=identities, now=now)
    except ServiceError as exc:
        outcome = refusal_outcome(exc.code)
        if keeps_choice_open(outcome):
            for row in chosen:
                row.choice, row.choice_at = None, None
        return Decision(outcome, appt, org, code=exc.code)
    kinds = [ConsentKind(k) for k in started.consent_kinds]
    for row in chosen:
        row.signing_request_id = started.id
        if invitation is None:
            _answer_in_chat(db, row, bot.after_sign(kinds), now)
    return Decision(Outcome.started, appt, org, request_id=started.id, kinds=kinds)


def sign_on_paper(db: Session, *, appointment_id: int, now: datetime,
                  invitation: NotificationRow | None = None) -> Decision:
    """Move the appointment's pending electronic documents to paper («Подпишу в клинике»).

    From a page with nothing pending (already chosen, or signing under way) it changes
    nothing and says so; a pressed invitation button answers as it always has."""
    appt, org = _appointment(db, appointment_id)
    pending = pending_electronic_consents(db, appt.id)
    if invitation is None and not pending:
        return Decision(Outcome.nothing_pending, appt, org)
    chosen = _record(db, appt, Choice.paper, now, invitation)
    if chosen is None:
        return Decision(Outcome.already_chosen, appt, org)
    for consent in pending:
        records.change_consent(consent, Consent.choose_paper, now=now)
    for row in chosen if invitation is None else ():
        _answer_in_chat(db, row, bot.after_paper(appt.starts_at, org.timezone), now)
    return Decision(Outcome.paper, appt, org, kinds=[ConsentKind(c.kind) for c in pending])


def _appointment(db: Session, appointment_id: int) -> tuple[AppointmentRow, OrganizationRow]:
    appointment = get_existing(db, AppointmentRow, appointment_id)
    return appointment, get_existing(db, OrganizationRow, appointment.organization_id)


def _record(db: Session, appt: AppointmentRow, choice: Choice, now: datetime,
            invitation: NotificationRow | None) -> list[NotificationRow] | None:
    """Record the choice on the pressed invitation (None when it had one already) or on the
    appointment's open invitation, if there is one: the invitations that got it."""
    if invitation is not None:
        if not choose(db, notification_id=invitation.id, choice=choice, now=now):
            return None
        db.refresh(invitation)
        return [invitation]
    found = open_invitation_of(db, appointment_id=appt.id, now=now)
    if found is None or not choose(db, notification_id=found.id, choice=choice, now=now):
        return []  # nothing open, or a press in MAX just took it: the start's own guard decides
    db.refresh(found)
    return [found]


def _answer_in_chat(db: Session, invitation: NotificationRow, text: str, now: datetime) -> None:
    """Edit the invitation in MAX as the bot does after a press: the answer, no buttons."""
    if invitation.message_mid is None:
        return
    notifications.enqueue_message(db, ref=f"invitation-answered:{invitation.id}", now=now,
                                  user_id=invitation.max_user_id, text=text,
                                  edit_mid=invitation.message_mid)


def choose(db: Session, *, notification_id: int, choice: str, now: datetime) -> bool:
    """Record the patient's choice unless one is recorded (compare-and-set: a press delivered
    twice counts once). True when this one was."""
    chosen = db.connection().execute(
        update(NotificationRow).where(NotificationRow.id == notification_id,
                                      NotificationRow.choice.is_(None))
        .values(choice=choice, choice_at=now, updated_at=now)).rowcount
    if chosen == 1:
        webhook_outbox.invitation_answered(db, notification_id, choice=choice, now=now)
    return chosen == 1


def open_invitation_of(db: Session, *, appointment_id: int,
                       now: datetime) -> NotificationRow | None:
    """The appointment's invitation whose buttons still act: sent, no choice, unexpired."""
    return db.scalars(select(NotificationRow).where(
        NotificationRow.appointment_id == appointment_id, NotificationRow.state == "sent",
        NotificationRow.choice.is_(None), NotificationRow.token_expires_at > now)).first()


def pending_electronic_consents(db: Session, appointment_id: int) -> list[ConsentRow]:
    """The appointment's consents still waiting to be signed electronically."""
    return list(db.scalars(select(ConsentRow).where(
        ConsentRow.appointment_id == appointment_id,
        ConsentRow.signing_method == SigningMethod.electronic.value,
        ConsentRow.state == ConsentState.pending.value)))
