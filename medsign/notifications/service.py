"""The day-before invitation of each appointment (flow A): schedule, move, cancel, send once.

``sync`` is called whenever an appointment or its patient changes. It keeps the live
notification row of the appointment (the newest) and its runner item (kind ``max.notify``) in
step with the facts: eligible (scheduled, an electronic consent to sign, a linked and
reachable MAX account) and not sent yet → scheduled at the domain's notification time;
rescheduled after sending and before a choice → the sent row is superseded (its message
edited, its buttons gone) and a fresh one planned for the new date; cancelled → the timer is
cancelled and the last message the patient got says so.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from medsign.db.integrity import IntegrityBroken
from medsign.db.models import (
    AppointmentRow,
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
from medsign.domain.signing import PatientNotice, SigningEvent, SigningState, patient_notice
from medsign.notifications import repository
from medsign.records.appointments import consents_of
from medsign.runner import store
from medsign.webhooks import outbox as webhook_outbox

NOTIFY_KIND = "max.notify"
MESSAGE_KIND = "max.message"
# The signed PDFs of a completed request, sent into the patient's chat (``bot.copies``).
COPIES_KIND = "max.copies"
# A sent invitation of a visit that moved before the patient chose: its buttons are refused.
SUPERSEDED = "superseded"


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
    org, patient = repository.parties(db, appointment)
    kinds = sorted(ConsentKind(c.kind) for c in consents_of(db, appointment)
                   if c.signing_method == SigningMethod.electronic
                   and c.state == ConsentState.pending)
    return Context(appointment, org, patient, kinds)


def invitation(db: Session, notification_id: int) -> tuple[NotificationRow, Context] | None:
    """A notification with what its invitation is about, for the step that sends it."""
    row = repository.find_notification(db, notification_id)
    if row is None:
        return None
    return row, load(db, repository.appointment(db, row.appointment_id))


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
    rows = repository.of_appointment(db, appointment.id)
    row = rows[0] if rows else None
    if row is not None and row.state == "sent":
        _follow_up(db, ctx, row, policy, now)
        return
    pending = row if row is not None and row.state in ("scheduled", "skipped") else None
    if row is None or pending is not None or row.state == SUPERSEDED:
        _plan(db, ctx, pending, policy, now)
    if ctx.appointment.status != "scheduled":
        _tell_cancelled(db, ctx, rows, now)


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
    item = repository.work_item(db, kind=NOTIFY_KIND, ref=str(row.id))
    if reason is not None:
        row.state, row.scheduled_for = "skipped", None
        if item is not None:
            store.cancel_for_ref(db.connection(), kind=NOTIFY_KIND, ref=str(row.id), now=now,
                                 reason=reason)
        return
    if at is None:  # no send time always comes with a reason, handled above
        raise RuntimeError(f"notification {row.id} has neither a send time nor a reason")
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
        repository.move_timer(db, item_id=item.id, at=at, now=now)


def _follow_up(db: Session, ctx: Context, row: NotificationRow, policy: NotificationPolicy,
               now: datetime) -> None:
    """Sent: tell the patient in that message what changed.

    A cancellation is told whatever the patient chose (signing online is stopped with the
    appointment, and nothing else would tell them). A move before any choice supersedes the
    invitation: its message says the visit moved and loses its buttons, and a fresh
    invitation (new token, buttons valid until the new time) is planned for the new date —
    so moving a visit again repeats this. After «в клинике» the message's time is updated;
    the text after «онлайн» names no time.
    """
    a, tz = ctx.appointment, ctx.organization.timezone
    if a.status != "scheduled":
        _tell_cancelled(db, ctx, [row], now)
        return
    if row.announced_start == a.starts_at:
        return
    if row.choice is None:
        _supersede(db, ctx, row, policy, now)
        return
    if row.choice == bot.Choice.paper.value:
        moved = f"moved-{a.reschedule_count}-{a.starts_at:%Y%m%dT%H%M}"
        row.announced_start, row.updated_at = a.starts_at, now
        enqueue_message(db, ref=f"notification-{row.id}-paper-{moved}", now=now,
                        user_id=row.max_user_id,
                        text=bot.rescheduled(bot.after_paper(a.starts_at, tz)),
                        edit_mid=row.message_mid)


def _supersede(db: Session, ctx: Context, row: NotificationRow, policy: NotificationPolicy,
               now: datetime) -> None:
    """The visit moved after its invitation went out: retire it and plan a fresh one."""
    if row.announced_start is None:
        raise IntegrityBroken(f"notification {row.id} was sent without announced_start")
    row.state, row.reason, row.updated_at = SUPERSEDED, "приём перенесён", now
    db.flush()  # the live-row index admits the new row only after this one left it
    _plan(db, ctx, None, policy, now)
    fresh = repository.scheduled_of(db, ctx.appointment.id)
    text = bot.moved(row.announced_start, ctx.appointment.starts_at,
                     ctx.organization.timezone, invited_again=fresh is not None)
    enqueue_message(db, ref=f"notification-{row.id}-superseded", now=now,
                    user_id=row.max_user_id, text=text, edit_mid=row.message_mid)


def _tell_cancelled(db: Session, ctx: Context, rows: list[NotificationRow],
                    now: datetime) -> None:
    """Edit the newest message the patient got about this visit to say it is cancelled."""
    told = next((r for r in rows if r.message_mid is not None), None)
    if told is None or told.state not in ("sent", SUPERSEDED) or \
            told.reason == "запись отменена":
        return
    a = ctx.appointment
    if told.state == "sent":
        told.state = "cancelled"
    told.reason, told.updated_at = "запись отменена", now
    enqueue_message(db, ref=f"notification-{told.id}-cancelled", now=now,
                    user_id=told.max_user_id,
                    text=bot.appointment_cancelled(a.starts_at, ctx.organization.timezone),
                    edit_mid=told.message_mid)


def settle(db: Session, *, notification_id: int, state: str, reason: str | None,
           now: datetime) -> None:
    """An invitation that will not be sent (``skipped``, ``undeliverable``, ``failed``): its
    state and why — unless it is no longer ``scheduled``."""
    row = repository.find_notification(db, notification_id)
    if row is not None and row.state == "scheduled":
        row.state, row.reason, row.updated_at = state, reason, now


def mark_sent(db: Session, *, notification_id: int, user_id: int, mid: str,
              chat_id: int | None, announced: datetime, now: datetime) -> None:
    """The invitation went out: its message (edited when the visit moves or is cancelled),
    the chat it is in, and the start it announced (a later move is told against it)."""
    row = repository.notification(db, notification_id)
    row.state, row.message_mid, row.sent_at, row.updated_at = "sent", mid, now, now
    row.max_user_id, row.chat_id, row.announced_start = user_id, chat_id, announced
    patient = repository.patient(db, row.patient_id)
    patient.max_chat_id = chat_id or patient.max_chat_id
    webhook_outbox.invitation_sent(db, row, now=now)


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
    if user_id is None or repository.work_item(db, kind=MESSAGE_KIND, ref=ref) is not None:
        return
    data: dict[str, Any] = {"user_id": user_id, "text": text, "edit_mid": edit_mid,
                            "buttons": buttons, "token": token}
    store.enqueue(db.connection(), kind=MESSAGE_KIND, step="send", ref=ref, now=now, data=data)


def sync_patient(db: Session, *, patient: PatientRow, policy: NotificationPolicy,
                 now: datetime) -> None:
    """After a patient's MAX link changed: re-plan their upcoming appointments."""
    for appointment in repository.upcoming_appointments(db, patient_id=patient.id, now=now):
        sync(db, appointment=appointment, policy=policy, now=now)


def tell_patient(db: Session, row: SigningRequestRow, events: Sequence[SigningEvent],
                 now: datetime) -> None:
    """Tell the patient in MAX what the request's events mean for them — the documents
    reaching Госключ, and how signing ended — once each, if MAX can reach them.

    The text comes from the kind of event (``patient_notice``), never from its reason: an
    operator's words and logins stay in the history and the audit log. A completion also
    queues the signed documents' copies (``COPIES_KIND``): a work item of its own, after this
    transaction, so that sending them can never change how signing ended."""
    notices = [(e, n) for e in events if (n := patient_notice(e)) is not None]
    if not notices:
        return
    patient = repository.patient(db, row.patient_id)
    if patient.max_user_id is None or not patient.max_reachable:
        return
    if any(e.to_state is SigningState.completed for e in events):
        send_copies(db, row, user_id=patient.max_user_id, now=now)
    kinds = [ConsentKind(k) for k in row.consent_kinds]
    for event, notice in notices:
        if notice is PatientNotice.appointment_cancelled and \
                repository.invitation_sent(db, row.appointment_id):
            continue  # the invitation itself is edited to say the visit is cancelled
        enqueue_message(db, ref=f"signing-{row.id}-{event.to_state.value}", now=now,
                        user_id=patient.max_user_id, text=bot.outcome(notice, kinds=kinds),
                        buttons="goskey" if notice is PatientNotice.documents_sent else "none")



def send_copies(db: Session, row: SigningRequestRow, *, user_id: int, now: datetime) -> None:
    """Queue the signed PDFs of a completed request for the patient's chat — once."""
    if repository.work_item(db, kind=COPIES_KIND, ref=row.id) is None:
        store.enqueue(db.connection(), kind=COPIES_KIND, step="send", ref=row.id, now=now,
                      data={"user_id": user_id, "next": 1})
