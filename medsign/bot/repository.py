"""The bot's queries, in one place: stored MAX updates, patients by their MAX account, link
tokens and relink questions, and the invitations the patient's buttons refer to.

Nothing here decides or commits: ``updates.Handler``, ``links`` and the bot's runner steps
do, in the step's transaction. Tokens are looked up by their SHA-256 (``links._hash``): the
tokens themselves are never stored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Table, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from medsign.db.integrity import get_existing
from medsign.db.models import (
    MaxLinkTokenRow,
    MaxRelinkRow,
    MaxUpdateRow,
    NotificationRow,
    PatientRow,
)

_UPDATES = cast(Table, MaxUpdateRow.__table__)


# -- stored updates -------------------------------------------------------------------------

def insert_update(conn: Connection, *, raw: dict[str, Any], dedupe_key: str, via: str,
                  now: datetime) -> int | None:
    """Store an update unless one with its ``dedupe_key`` is stored: its id, or None."""
    dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    stored: int | None = conn.execute(dialect_insert(_UPDATES).values(
        dedupe_key=dedupe_key, update_type=str(raw.get("update_type", "unknown"))[:50],
        payload=raw, received_at=now, via=via)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(_UPDATES.c.id)).scalar()
    return stored


def stored_update(db: Session, update_id: int) -> MaxUpdateRow:
    return get_existing(db, MaxUpdateRow, update_id)


def update_outcome(conn: Connection, *, update_id: int) -> dict[str, Any] | None:
    """What ``handle`` decided to answer (None: nothing decided yet)."""
    outcome: dict[str, Any] | None = conn.execute(
        select(MaxUpdateRow.outcome).where(MaxUpdateRow.id == update_id)).scalar()
    return outcome


# -- patients by their MAX account ----------------------------------------------------------

def patients_of_user(db: Session, *, user_id: int) -> list[PatientRow]:
    return list(db.scalars(select(PatientRow).where(PatientRow.max_user_id == user_id)))


def is_linked(db: Session, *, user_id: int) -> bool:
    return db.scalars(select(PatientRow.id).where(PatientRow.max_user_id == user_id)
                      ).first() is not None


def phoneless_patients_of_user(db: Session, *, user_id: int) -> list[PatientRow]:
    """The account's patients the МИС gave no phone (the shared contact may fill it in)."""
    return list(db.scalars(select(PatientRow).where(PatientRow.max_user_id == user_id,
                                                    PatientRow.phone.is_(None))))


def patients_with_phone(db: Session, *, phone: str) -> list[PatientRow]:
    return list(db.scalars(select(PatientRow).where(PatientRow.phone == phone)
                           .order_by(PatientRow.id)))


def chat_of(conn: Connection, *, user_id: int) -> int | None:
    """The MAX chat with this user, as a sent message recorded it (None: none yet)."""
    chat: int | None = conn.execute(select(PatientRow.max_chat_id).where(
        PatientRow.max_user_id == user_id, PatientRow.max_chat_id.is_not(None))).scalar()
    return chat


def patient(db: Session, patient_id: int) -> PatientRow:
    return get_existing(db, PatientRow, patient_id)


# -- link tokens and relink questions -------------------------------------------------------

def spend_link_token(db: Session, *, token_hash: str, user_id: int, now: datetime) -> bool:
    """Mark a deep-link token used by ``user_id`` — once, before it expires (compare-and-set:
    of two concurrent starts with one token, one spends it)."""
    spent = db.connection().execute(update(MaxLinkTokenRow).where(
        MaxLinkTokenRow.token_hash == token_hash, MaxLinkTokenRow.used_at.is_(None),
        MaxLinkTokenRow.expires_at > now).values(used_at=now, used_by=user_id)).rowcount
    return spent == 1


def patient_of_token(db: Session, *, token_hash: str) -> PatientRow | None:
    row = db.get(MaxLinkTokenRow, token_hash)
    return db.get(PatientRow, row.patient_id) if row else None


def relink_asked(db: Session, *, patient_id: int, new_user_id: int, current_user_id: int,
                 now: datetime) -> bool:
    """Whether the current account already has this question open (unanswered, unexpired)."""
    return db.scalars(select(MaxRelinkRow.id).where(
        MaxRelinkRow.patient_id == patient_id, MaxRelinkRow.new_user_id == new_user_id,
        MaxRelinkRow.current_user_id == current_user_id, MaxRelinkRow.decision.is_(None),
        MaxRelinkRow.expires_at > now)).first() is not None


def relink_by_token(db: Session, *, token_hash: str) -> MaxRelinkRow | None:
    return db.scalars(select(MaxRelinkRow).where(MaxRelinkRow.token_hash == token_hash)
                      ).first()


def decide_relink(db: Session, *, relink_id: int, yes: bool, now: datetime) -> bool:
    """Record the answer unless one is recorded (compare-and-set): True when this one was."""
    decided = db.connection().execute(update(MaxRelinkRow).where(
        MaxRelinkRow.id == relink_id, MaxRelinkRow.decision.is_(None))
        .values(decision="yes" if yes else "no", decided_at=now)).rowcount
    return decided == 1


# -- the invitations the buttons refer to ---------------------------------------------------

def notification_by_token(db: Session, *, token: str) -> NotificationRow | None:
    return db.scalars(select(NotificationRow).where(NotificationRow.token == token)).first()


def open_invitation(db: Session, *, patient_ids: list[int], user_id: int,
                    now: datetime) -> NotificationRow | None:
    """The newest invitation sent to this account for one of the patients whose buttons
    still work: no choice yet, token unexpired."""
    return db.scalars(select(NotificationRow).where(
        NotificationRow.patient_id.in_(patient_ids),
        NotificationRow.max_user_id == user_id, NotificationRow.state == "sent",
        NotificationRow.choice.is_(None), NotificationRow.token_expires_at > now)
        .order_by(NotificationRow.id.desc())).first()
