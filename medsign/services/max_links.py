"""Linking a patient's MAX account (flow D): one-time deep links, shared contacts, stop/start.

MAX has no look-up by phone number, so the bot learns a patient's MAX user id only when the
patient comes to it: through a deep link ``https://max.ru/<bot>?start=<token>`` issued for the
portal, or by sharing their contact (whose phone we match). A user who stops the bot cannot
be written to until they start it again.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from medsign.db.models import MaxLinkTokenRow, PatientRow
from medsign.domain.phones import mask_phone
from medsign.services import audit

# Deep-link payloads are limited to 128 characters of [A-Za-z0-9_-] by the platform.
TOKEN_BYTES = 24


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


def link_by_token(db: Session, *, token: str, user_id: int, chat_id: int | None,
                  now: datetime) -> PatientRow | None:
    """Spend a deep-link token (once, before it expires) on linking ``user_id``."""
    spent = db.connection().execute(update(MaxLinkTokenRow).where(
        MaxLinkTokenRow.token_hash == _hash(token), MaxLinkTokenRow.used_at.is_(None),
        MaxLinkTokenRow.expires_at > now).values(used_at=now, used_by=user_id)).rowcount
    if spent != 1:
        return None
    row = db.get(MaxLinkTokenRow, _hash(token))
    patient = db.get(PatientRow, row.patient_id) if row else None
    if patient is not None:
        _link(db, patient, user_id, chat_id, now, how="deep_link")
    return patient


def link_by_phone(db: Session, *, phone: str, user_id: int, chat_id: int | None,
                  now: datetime) -> list[PatientRow]:
    """A contact the user shared from their own account: link every patient with that phone."""
    patients = list(db.scalars(select(PatientRow).where(PatientRow.phone == phone)))
    for patient in patients:
        _link(db, patient, user_id, chat_id, now, how="contact")
    return patients


def adopt_phone(db: Session, *, phone: str, user_id: int, now: datetime) -> list[PatientRow]:
    """A contact the user shared from their own account: the phone of their linked patients
    who have none (signing needs it). A phone the МИС gave is never replaced from MAX."""
    patients = list(db.scalars(select(PatientRow).where(PatientRow.max_user_id == user_id,
                                                        PatientRow.phone.is_(None))))
    for patient in patients:
        patient.phone, patient.updated_at = phone, now
        audit.record(db, at=now, actor=f"max:{user_id}", action="patient.phone_from_max",
                     subject_type="patient", subject_id=patient.external_id,
                     organization_code=None, details={"phone": mask_phone(phone)})
    return patients


def _link(db: Session, patient: PatientRow, user_id: int, chat_id: int | None, now: datetime,
          *, how: str) -> None:
    patient.max_user_id, patient.max_reachable = user_id, True
    patient.max_chat_id = chat_id or patient.max_chat_id
    patient.updated_at = now
    audit.record(db, at=now, actor=f"max:{user_id}", action="max_link.linked",
                 subject_type="patient", subject_id=patient.external_id,
                 organization_code=None, details={"how": how})


def set_reachable(db: Session, *, user_id: int, reachable: bool, chat_id: int | None,
                  now: datetime) -> list[PatientRow]:
    """``bot_stopped`` / ``bot_started``: whether the bot may write to this MAX user."""
    patients = list(db.scalars(select(PatientRow).where(PatientRow.max_user_id == user_id)))
    for patient in patients:
        if patient.max_reachable != reachable:
            patient.max_reachable, patient.updated_at = reachable, now
            audit.record(db, at=now, actor=f"max:{user_id}",
                         action="max.bot_started" if reachable else "max.bot_stopped",
                         subject_type="patient", subject_id=patient.external_id,
                         organization_code=None)
        patient.max_chat_id = chat_id or patient.max_chat_id
    return patients


