"""The day-before invitation of each appointment (flow A): schedule, move, cancel, send once.

``sync`` is called whenever an appointment or its patient changes. It keeps one notification
row per appointment and its runner item (kind ``max.notify``) in step with the facts:
eligible (scheduled, an electronic consent to sign, a linked and reachable MAX account) and
not sent yet → scheduled at the domain's notification time; rescheduled after sending → the
sent message is edited; cancelled → the timer is cancelled or the message says so.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from medsign.db.models import (
    AppointmentRow,
    ConsentRow,
    NotificationRow,
    OrganizationRow,
    PatientRow,
    SigningRequestRow,
    WorkItemRow,
)
from medsign.domain import bot
from medsign.domain.consents import ConsentKind, ConsentState, SigningMethod
from medsign.domain.notifications import notification_time
from medsign.domain.organizations import QuietHours, parse_quiet_hours
from medsign.domain.signing import PatientNotice, SigningEvent, patient_notice
from medsign.runner import store

NOTIFY_KIND = "max.notify"
MESSAGE_KIND = "max.message"


@dataclass(frozen=True)
class NotificationPolicy:
    offset: timedelta
    min_lead: timedelta
    default_quiet_hours: QuietHours
    callback_ttl: timedelta
    goskey_bot_url: str


@dataclass(frozen=True)
class Context:
    appointment: AppointmentRow
    organization: OrganizationRow
    patient: PatientRow
    kinds: list[ConsentKind]


def load(db: Session, appointment: AppointmentRow) -> Context:
    org = db.get(OrganizationRow, appointment.organization_id)
    patient = db.get(PatientRow, appointment.patient_id)
    assert org is not None and patient is not None
    consents = db.scalars(select(ConsentRow).where(ConsentRow.appointment_id == appointment.id))
    kinds = sorted(ConsentKind(c.kind) for c in consents
                   if c.signing_method == SigningMethod.electronic
                   and c.state == ConsentState.pending)
    return Context(appointment, org, patient, kinds)


def eligible(ctx: Context) -> str | None:
    """Why no invitation can be sent, or None when it can."""
    if ctx.appointment.status != "scheduled":
        return "запись отменена"
    if not ctx.kinds:
        return "нет документов для электронного подписания"
    if ctx.patient.max_user_id is None:
        return "аккаунт MAX пациента не привязан"
    if not ctx.patient.max_reachable:
        return "пациент остановил бота MAX"
    return None


def sync(db: Session, *, appointment: AppointmentRow, policy: NotificationPolicy,
         now: datetime) -> None:
    ctx = load(db, appointment)
    row = db.scalars(select(NotificationRow)
                     .where(NotificationRow.appointment_id == appointment.id)).first()
    if row is None or row.state in ("scheduled", "skipped"):
        _plan(db, ctx, row, policy, now)
    elif row.state == "sent":
        _follow_up(db, ctx, row, now)


def _plan(db: Session, ctx: Context, row: NotificationRow | None, policy: NotificationPolicy,
          now: datetime) -> None:
    """Not sent yet: (re)schedule, or stand down with a reason."""
    reason = eligible(ctx)
    at = None if reason else _send_time(ctx, policy, now)
    if reason is None and at is None:
        reason = "слишком поздно для уведомления (тихие часы или приём скоро)"
    if row is None:
        if reason is not None:
            return
        row = _create(db, ctx, policy, now)
    row.updated_at, row.reason = now, reason
    item = _item(db, NOTIFY_KIND, str(row.id))
    if reason is not None:
        row.state, row.scheduled_for = "skipped", None
        if item is not None:
            store.cancel_for_ref(db.connection(), kind=NOTIFY_KIND, ref=str(row.id), now=now,
                                 reason=reason)
        return
    assert at is not None
    row.state, row.scheduled_for = "scheduled", at
    row.token_expires_at = ctx.appointment.starts_at + policy.callback_ttl
    _schedule(db, row, at, item, now)


def _send_time(ctx: Context, policy: NotificationPolicy, now: datetime) -> datetime | None:
    quiet = (parse_quiet_hours(ctx.organization.quiet_hours) if ctx.organization.quiet_hours
             else policy.default_quiet_hours)
    return notification_time(ctx.appointment.starts_at, policy.offset,
                             ctx.organization.timezone, quiet, now, policy.min_lead)


def _create(db: Session, ctx: Context, policy: NotificationPolicy,
            now: datetime) -> NotificationRow:
    row = NotificationRow(appointment_id=ctx.appointment.id, patient_id=ctx.patient.id,
                          state="scheduled", token=secrets.token_urlsafe(24),
                          token_expires_at=ctx.appointment.starts_at + policy.callback_ttl,
                          created_at=now, updated_at=now)
    db.add(row)
    db.flush()
    return row


def _schedule(db: Session, row: NotificationRow, at: datetime, item: WorkItemRow | None,
              now: datetime) -> None:
    if item is None or item.status != store.SCHEDULED:
        store.enqueue(db.connection(), kind=NOTIFY_KIND, step="send", ref=str(row.id), now=now,
                      run_at=at)
    elif item.locked_until is None:  # not running right now: just move its timer
        db.execute(update(WorkItemRow).where(WorkItemRow.id == item.id,
                                             WorkItemRow.locked_until.is_(None))
                   .values(next_run_at=at, updated_at=now))


def _item(db: Session, kind: str, ref: str) -> WorkItemRow | None:
    return db.scalars(select(WorkItemRow).where(WorkItemRow.kind == kind, WorkItemRow.ref == ref)
                      .order_by(WorkItemRow.id.desc())).first()


def _follow_up(db: Session, ctx: Context, row: NotificationRow, now: datetime) -> None:
    """Sent: edit the message to tell the patient what changed.

    A cancellation is told whatever the patient chose (signing online is stopped with the
    appointment, and nothing else would tell them). A new time is told while the buttons are
    still there, and after «в клинике», whose text names the time; the text after «онлайн»
    names none. Each move is its own edit (``reschedule_count``), so moving a visit back and
    forth is told every time.
    """
    a, tz = ctx.appointment, ctx.organization.timezone
    moved = f"moved-{a.reschedule_count}-{a.starts_at:%Y%m%dT%H%M}"
    if a.status != "scheduled":
        row.state, row.reason = "cancelled", "запись отменена"
        text, buttons, ref = bot.appointment_cancelled(a.starts_at, tz), "none", "cancelled"
    elif row.announced_start == a.starts_at:
        return
    elif row.choice is None:
        row.announced_start = a.starts_at
        text, buttons, ref = bot.rescheduled(invitation_text(ctx)), "choice", moved
    elif row.choice == bot.Choice.paper.value:
        row.announced_start = a.starts_at
        text, buttons = bot.rescheduled(bot.after_paper(a.starts_at, tz)), "none"
        ref = f"paper-{moved}"
    else:
        return
    row.updated_at = now
    enqueue_message(db, ref=f"notification-{row.id}-{ref}", now=now, user_id=row.max_user_id,
                    text=text, edit_mid=row.message_mid, buttons=buttons, token=row.token)


def invitation_text(ctx: Context) -> str:
    a, p = ctx.appointment, ctx.patient
    return bot.invitation(first_name=p.first_name, middle_name=p.middle_name,
                          starts_at=a.starts_at, timezone=ctx.organization.timezone,
                          service=a.service_name, doctor=a.doctor_name,
                          organization=ctx.organization.name, kinds=ctx.kinds)


def enqueue_message(db: Session, *, ref: str, now: datetime, user_id: int | None, text: str,
                    edit_mid: str | None = None, buttons: str = "none",
                    token: str | None = None) -> None:
    """Queue one outgoing message (or edit) — once per ``ref``, however often it is asked."""
    if user_id is None or _item(db, MESSAGE_KIND, ref) is not None:
        return
    data: dict[str, Any] = {"user_id": user_id, "text": text, "edit_mid": edit_mid,
                            "buttons": buttons, "token": token}
    store.enqueue(db.connection(), kind=MESSAGE_KIND, step="send", ref=ref, now=now, data=data)


def sync_patient(db: Session, *, patient: PatientRow, policy: NotificationPolicy,
                 now: datetime) -> None:
    """After a patient's MAX link changed: re-plan their upcoming appointments."""
    upcoming = db.scalars(select(AppointmentRow).where(
        AppointmentRow.patient_id == patient.id, AppointmentRow.status == "scheduled",
        AppointmentRow.starts_at > now))
    for appointment in upcoming:
        sync(db, appointment=appointment, policy=policy, now=now)


def tell_patient(db: Session, row: SigningRequestRow, events: Sequence[SigningEvent],
                 now: datetime) -> None:
    """Tell the patient in MAX what the request's events mean for them — the documents
    reaching Госключ, and how signing ended — once each, if MAX can reach them.

    The text comes from the kind of event (``patient_notice``), never from its reason: an
    operator's words and logins stay in the history and the audit log."""
    notices = [(e, n) for e in events if (n := patient_notice(e)) is not None]
    if not notices:
        return
    patient = db.get_one(PatientRow, row.patient_id)
    if patient.max_user_id is None or not patient.max_reachable:
        return
    kinds = [ConsentKind(k) for k in row.consent_kinds]
    for event, notice in notices:
        if notice is PatientNotice.appointment_cancelled and _invitation_sent(db, row):
            continue  # the invitation itself is edited to say the visit is cancelled
        enqueue_message(db, ref=f"signing-{row.id}-{event.to_state.value}", now=now,
                        user_id=patient.max_user_id, text=bot.outcome(notice, kinds=kinds),
                        buttons="goskey" if notice is PatientNotice.documents_sent else "none")


def _invitation_sent(db: Session, row: SigningRequestRow) -> bool:
    return db.scalars(select(NotificationRow.id).where(
        NotificationRow.appointment_id == row.appointment_id,
        NotificationRow.message_mid.is_not(None))).first() is not None
