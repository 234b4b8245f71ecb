"""Linking a patient's MAX account (flow D): one-time deep links, shared contacts, stop/start.

MAX has no look-up by phone number, so the bot learns a patient's MAX user id only when the
patient comes to it: through a deep link ``https://max.ru/<bot>?start=<token>`` issued for the
portal, or by sharing their contact (whose phone we match). A user who stops the bot cannot
be written to until they start it again.

A patient already linked to *another* MAX account is never moved silently — a deep link
issued to the wrong person, or someone else's copy of it, would otherwise take over the
patient's invitations. The new account is put on hold (a ``MaxRelinkRow``) and the bot asks
the chat of the current account, with «Да, привязать новый аккаунт» / «Нет» buttons; only
«Да» there moves the link (audited). The question expires after ``RELINK_TTL``.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from medsign.bot import repository
from medsign.db.models import MaxLinkTokenRow, MaxRelinkRow, PatientRow
from medsign.domain import bot
from medsign.domain.phones import mask_phone
from medsign.notifications import service as notifications
from medsign.records import audit
from medsign.records.patients import full_name
from medsign.webhooks import outbox as webhook_outbox

# Deep-link payloads are limited to 128 characters of [A-Za-z0-9_-] by the platform.
TOKEN_BYTES = 24
# How long the current account's «Да» / «Нет» buttons work.
RELINK_TTL = timedelta(hours=24)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedLink:
    token: str
    deep_link: str
    expires_at: datetime


def issue(db: Session, *, patient: PatientRow, link_base: str, ttl: timedelta, actor: str,
          organization_code: str, now: datetime) -> IssuedLink:
    token = secrets.token_urlsafe(TOKEN_BYTES)
    expires = now + ttl
    db.add(MaxLinkTokenRow(token_hash=_hash(token), patient_id=patient.id, created_at=now,
                           expires_at=expires))
    audit.record(db, at=now, actor=actor, action="max_link.issued", subject_type="patient",
                 subject_id=patient.external_id, organization_code=organization_code)
    return IssuedLink(token, f"{link_base.rstrip('/')}?start={token}", expires)


@dataclass(frozen=True)
class Linking:
    """A deep link's patient; ``linked`` False: another account is linked, it was asked."""

    patient: PatientRow
    linked: bool


@dataclass(frozen=True)
class LinkOutcome:
    """Patients linked to the account now, and those waiting for their current account."""

    linked: list[PatientRow]
    waiting: list[PatientRow]


def link_by_token(db: Session, *, token: str, user_id: int, chat_id: int | None,
                  now: datetime) -> Linking | None:
    """Spend a deep-link token (once, before it expires) on linking ``user_id``."""
    if not repository.spend_link_token(db, token_hash=_hash(token), user_id=user_id, now=now):
        return None
    patient = repository.patient_of_token(db, token_hash=_hash(token))
    if patient is None:
        return None
    return Linking(patient, _link(db, patient, user_id, chat_id, now, how="deep_link"))


def link_by_phone(db: Session, *, phone: str, user_id: int, chat_id: int | None,
                  now: datetime) -> LinkOutcome:
    """A contact the user shared from their own account: link every patient with that phone."""
    outcome = LinkOutcome([], [])
    for patient in repository.patients_with_phone(db, phone=phone):
        linked = _link(db, patient, user_id, chat_id, now, how="contact")
        (outcome.linked if linked else outcome.waiting).append(patient)
    return outcome


def adopt_phone(db: Session, *, phone: str, user_id: int, now: datetime) -> list[PatientRow]:
    """A contact the user shared from their own account: the phone of their linked patients
    who have none (signing needs it). A phone the МИС gave is never replaced from MAX."""
    patients = repository.phoneless_patients_of_user(db, user_id=user_id)
    for patient in patients:
        patient.phone, patient.updated_at = phone, now
        audit.record(db, at=now, actor=f"max:{user_id}", action="patient.phone_from_max",
                     subject_type="patient", subject_id=patient.external_id,
                     organization_code=None, details={"phone": mask_phone(phone)})
    return patients


def _link(db: Session, patient: PatientRow, user_id: int, chat_id: int | None, now: datetime,
          *, how: str) -> bool:
    """Link ``user_id``, unless another account is linked: then ask that one; False."""
    if patient.max_user_id is not None and patient.max_user_id != user_id:
        _ask_current(db, patient, user_id, chat_id, now, how=how)
        return False
    patient.max_user_id, patient.max_reachable = user_id, True
    patient.max_chat_id = chat_id or patient.max_chat_id
    patient.updated_at = now
    audit.record(db, at=now, actor=f"max:{user_id}", action="max_link.linked",
                 subject_type="patient", subject_id=patient.external_id,
                 organization_code=None, details={"how": how})
    webhook_outbox.max_account_linked(db, patient, how=how, now=now)
    return True


def _ask_current(db: Session, patient: PatientRow, user_id: int, chat_id: int | None,
                 now: datetime, *, how: str) -> None:
    """Put ``user_id`` on hold and ask the linked account — once while a question is open."""
    current = patient.max_user_id
    if current is None:
        raise ValueError(f"patient {patient.id} has no linked MAX account to ask")
    if repository.relink_asked(db, patient_id=patient.id, new_user_id=user_id,
                               current_user_id=current, now=now):
        return
    token = secrets.token_urlsafe(TOKEN_BYTES)
    row = MaxRelinkRow(token_hash=_hash(token), patient_id=patient.id, current_user_id=current,
                       new_user_id=user_id, new_chat_id=chat_id, how=how, created_at=now,
                       expires_at=now + RELINK_TTL)
    db.add(row)
    db.flush()
    notifications.enqueue_message(db, ref=f"relink-{row.id}", now=now, user_id=current,
                                  text=bot.relink_question(full_name(patient)),
                                  buttons="relink", token=token)
    audit.record(db, at=now, actor=f"max:{user_id}", action="max_link.relink_asked",
                 subject_type="patient", subject_id=patient.external_id,
                 organization_code=None, details={"how": how, "current": f"max:{current}"})


@dataclass(frozen=True)
class RelinkDecision:
    """The current account's answer: ``switched`` True after «Да»."""

    patient: PatientRow
    new_user_id: int
    new_chat_id: int | None
    switched: bool


def decide_relink(db: Session, *, token: str, user_id: int, yes: bool,
                  now: datetime) -> RelinkDecision | None:
    """The current account (``user_id``) answers a question; None when the button is stale:
    not its question, already answered, expired, or the link has changed since."""
    row = repository.relink_by_token(db, token_hash=_hash(token))
    if row is None or row.current_user_id != user_id or row.decision is not None \
            or now >= row.expires_at:
        return None
    patient = repository.patient(db, row.patient_id)
    if patient.max_user_id != row.current_user_id:
        return None
    if not repository.decide_relink(db, relink_id=row.id, yes=yes, now=now):
        return None
    details = {"how": row.how, "previous": f"max:{row.current_user_id}",
               "new": f"max:{row.new_user_id}"}
    if yes:
        patient.max_user_id, patient.max_reachable = row.new_user_id, True
        patient.max_chat_id, patient.updated_at = row.new_chat_id, now
        webhook_outbox.max_account_linked(db, patient, how=row.how, now=now)
    audit.record(db, at=now, actor=f"max:{user_id}",
                 action="max_link.relinked" if yes else "max_link.relink_declined",
                 subject_type="patient", subject_id=patient.external_id,
                 organization_code=None, details=details)
    return RelinkDecision(patient, row.new_user_id, row.new_chat_id, yes)



def set_reachable(db: Session, *, user_id: int, reachable: bool, chat_id: int | None,
                  now: datetime) -> list[PatientRow]:
    """``bot_stopped`` / ``bot_started``: whether the bot may write to this MAX user."""
    patients = repository.patients_of_user(db, user_id=user_id)
    for patient in patients:
        if patient.max_reachable != reachable:
            patient.max_reachable, patient.updated_at = reachable, now
            audit.record(db, at=now, actor=f"max:{user_id}",
                         action="max.bot_started" if reachable else "max.bot_stopped",
                         subject_type="patient", subject_id=patient.external_id,
                         organization_code=None)
        patient.max_chat_id = chat_id or patient.max_chat_id
    return patients


def mark_unreachable(db: Session, *, user_id: int, now: datetime) -> None:
    """MAX refused a message to this user (``chat.denied``): write to them no more until they
    start the bot again."""
    for patient in repository.patients_of_user(db, user_id=user_id):
        patient.max_reachable, patient.updated_at = False, now
