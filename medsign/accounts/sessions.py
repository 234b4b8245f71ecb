"""Server-side browser sessions and their CSRF tokens.

The cookie holds a random id; the table keeps only its SHA-256, so a copy of the database
does not let anyone take over a session. A session ends after ``idle`` without activity or
``absolute`` after it began, whichever comes first; logout deletes the row. Anonymous sessions
(before login, made only when a form needs state on the server: the ESIA ``state``) live at
most ``anonymous``; the housekeeping job deletes ended sessions in batches. Login always
starts a new session (no fixation).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from medsign.db.models import WebSessionRow

TOKEN_BYTES = 32
TOUCH_EVERY = timedelta(minutes=1)  # activity is written at most this often per session


@dataclass(frozen=True)
class SessionPolicy:
    idle: timedelta = timedelta(minutes=30)
    absolute: timedelta = timedelta(hours=12)
    anonymous: timedelta = timedelta(hours=2)


@dataclass(frozen=True)
class Owner:
    staff_user_id: int | None = None
    portal_account_id: int | None = None

    @property
    def anonymous(self) -> bool:
        return self.staff_user_id is None and self.portal_account_id is None


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_csrf_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def csrf_matches(expected: str | None, given: str | None) -> bool:
    """Constant-time comparison; a missing token on either side never matches."""
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


def create(db: Session, *, owner: Owner, policy: SessionPolicy, now: datetime,
           ip: str | None, user_agent: str | None,
           data: dict[str, Any] | None = None) -> tuple[str, WebSessionRow]:
    """A new session; returns the cookie value (shown once) and the row."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    lifetime = policy.anonymous if owner.anonymous else policy.absolute
    row = WebSessionRow(id_hash=digest(token), staff_user_id=owner.staff_user_id,
                        portal_account_id=owner.portal_account_id,
                        csrf_token=new_csrf_token(), data=data or {},
                        ip=(ip or "")[:64] or None, user_agent=(user_agent or "")[:300] or None,
                        created_at=now, last_seen_at=now, expires_at=now + lifetime)
    db.add(row)
    return token, row


def load(db: Session, token: str | None, *, policy: SessionPolicy,
         now: datetime) -> WebSessionRow | None:
    """The live session of a cookie value, or None (unknown, idle too long, or expired)."""
    if not token or len(token) > 200:
        return None
    row = db.get(WebSessionRow, digest(token))
    if row is None or now >= row.expires_at or now - row.last_seen_at >= policy.idle:
        return None
    return row


def touch(db: Session, id_hash: str, *, last_seen: datetime, now: datetime) -> bool:
    """Record activity (rarely: see ``TOUCH_EVERY``). True when a write was needed."""
    if now - last_seen < TOUCH_EVERY:
        return False
    db.execute(update(WebSessionRow).where(WebSessionRow.id_hash == id_hash)
               .values(last_seen_at=now))
    return True


def set_data(db: Session, id_hash: str, data: dict[str, Any]) -> None:
    db.execute(update(WebSessionRow).where(WebSessionRow.id_hash == id_hash).values(data=data))


def end(db: Session, token: str | None) -> None:
    if token:
        db.execute(delete(WebSessionRow).where(WebSessionRow.id_hash == digest(token)))


def end_all_of(db: Session, *, owner: Owner) -> None:
    """Every session of an account (after its password changed)."""
    if owner.staff_user_id is not None:
        db.execute(delete(WebSessionRow)
                   .where(WebSessionRow.staff_user_id == owner.staff_user_id))
    if owner.portal_account_id is not None:
        db.execute(delete(WebSessionRow)
                   .where(WebSessionRow.portal_account_id == owner.portal_account_id))


def purge(db: Session, *, policy: SessionPolicy, now: datetime) -> None:
    """Delete sessions past their end (called at login, so the table does not grow)."""
    db.execute(delete(WebSessionRow).where(
        (WebSessionRow.expires_at <= now) | (WebSessionRow.last_seen_at <= now - policy.idle)))
