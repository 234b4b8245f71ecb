"""Password login of staff and patients: throttled, audited, slow only where it must be.

A login runs in three phases so that the slow Argon2 check holds no database lock:
:func:`look_up` reads the account and the throttle state, :func:`judge` checks the password,
:func:`settle` writes the outcome (throttle counts, audit, a new session on success).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from medsign.db.models_web import PortalAccountRow, StaffUserRow
from medsign.services import audit, staff, web_passwords, web_sessions, web_throttle
from medsign.services.web_sessions import Owner, SessionPolicy


class Verdict(Enum):
    ok = "ok"
    locked = "locked"
    wrong = "wrong"
    weak = "weak"  # the right password, but one the policy no longer allows here


@dataclass(frozen=True)
class Settled:
    token: str | None  # the new session's cookie value after a good login
    locked_until: datetime | None  # the lock in force after a failure (maybe this one's)


@dataclass(frozen=True)
class Candidate:
    """The account a login form names (``owner`` is None when there is no such account)."""

    realm: str  # "staff" or "portal"
    login: str
    owner: Owner | None
    password_hash: str | None
    organization_code: str | None
    locked_until: datetime | None
    keys: tuple[web_throttle.Key, ...]

    @property
    def actor(self) -> str:
        prefix = "web" if self.realm == "staff" else "portal"
        return f"{prefix}:{self.login[:150]}"


def look_up(db: Session, *, realm: str, login: str, address: str | None,
            now: datetime) -> Candidate:
    login = login.strip()[:254]
    keys = tuple(web_throttle.keys(realm=realm, login=login, address=address))
    until = web_throttle.locked_until(db, keys, now)
    if realm == "staff":
        row = staff.find(db, login)
        active = row is not None and row.disabled_at is None
        owner = Owner(staff_user_id=row.id) if row is not None and active else None
        return Candidate(realm, staff.normalize_login(login), owner,
                         row.password_hash if owner and row else None,
                         _org_code(db, row) if row else None, until, keys)
    account = find_portal_account(db, login)
    owner = Owner(portal_account_id=account.id) if account else None
    return Candidate(realm, login.casefold(), owner,
                     account.password_hash if account else None, None, until, keys)


def find_portal_account(db: Session, login_or_email: str) -> PortalAccountRow | None:
    wanted = login_or_email.strip().casefold()
    if not wanted:
        return None
    return db.scalars(select(PortalAccountRow).where(or_(
        PortalAccountRow.login == wanted, PortalAccountRow.email == wanted))).first()


def _org_code(db: Session, row: StaffUserRow) -> str | None:
    user = staff.get(db, row.id)
    return user.organization_code if user else None


def judge(candidate: Candidate, password: str, *, now: datetime,
          allow_demo_password: bool) -> Verdict:
    if candidate.locked_until is not None and now < candidate.locked_until:
        return Verdict.locked
    if not web_passwords.verify(candidate.password_hash, password) or candidate.owner is None:
        return Verdict.wrong
    if not web_passwords.acceptable(password, login=candidate.login,
                                    allow_demo=allow_demo_password):
        return Verdict.weak
    return Verdict.ok


def settle(db: Session, candidate: Candidate, verdict: Verdict, *, now: datetime,
           policy: SessionPolicy, address: str | None,
           user_agent: str | None) -> Settled:
    """Write the outcome: throttle counts, audit, and a new session after a good login."""
    details: dict[str, object] = {"address": address, "realm": candidate.realm}
    if verdict is Verdict.wrong:
        web_throttle.record_failure(db, candidate.keys, now)
    if verdict is not Verdict.ok or candidate.owner is None:
        _audit(db, candidate, f"web.login_{verdict.value}", now, details)
        return Settled(None, web_throttle.locked_until(db, candidate.keys, now))
    web_throttle.record_success(db, candidate.keys[0])
    web_sessions.purge(db, policy=policy, now=now)
    web_throttle.purge(db, now)
    token, _ = web_sessions.create(db, owner=candidate.owner, policy=policy, now=now, ip=address,
                                   user_agent=user_agent)
    _audit(db, candidate, "web.login", now, details)
    return Settled(token, None)


def _audit(db: Session, candidate: Candidate, action: str, now: datetime,
           details: dict[str, object]) -> None:
    audit.record(db, at=now, actor=candidate.actor, action=action,
                 subject_type="staff_user" if candidate.realm == "staff" else "portal_account",
                 subject_id=candidate.login[:100], organization_code=candidate.organization_code,
                 details=details)


def record_logout(db: Session, *, actor: str, realm: str, login: str, now: datetime,
                  organization_code: str | None) -> None:
    audit.record(db, at=now, actor=actor, action="web.logout",
                 subject_type="staff_user" if realm == "staff" else "portal_account",
                 subject_id=login[:100], organization_code=organization_code)
