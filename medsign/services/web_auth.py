"""Password login of staff and patients: throttled, audited, slow only where it must be.

A login runs in three phases so that the slow Argon2 check holds no database lock:
:func:`look_up` reads the account and the throttle state, :func:`judge` checks the password,
:func:`settle` writes the outcome (throttle counts, audit, a new session on success).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from medsign.db.models_web import PortalAccountRow, StaffUserRow
from medsign.services import audit, staff, web_passwords, web_sessions, web_throttle
from medsign.services.web_sessions import Owner, SessionPolicy


class Verdict(Enum):
    ok = "ok"
    delayed = "delayed"  # too soon after failures: answered at once, the password unchecked
    wrong = "wrong"
    weak = "weak"  # the right password, but one the policy no longer allows here


@dataclass(frozen=True)
class Settled:
    token: str | None  # the new session's cookie value after a good login
    wait: timedelta  # how long the next attempt must wait after a failure (maybe zero)


@dataclass(frozen=True)
class Candidate:
    """The account a login form names (``owner`` is None when there is no such account)."""

    realm: str  # "staff" or "portal"
    login: str
    owner: Owner | None
    password_hash: str | None
    organization_code: str | None
    wait: timedelta  # left of the delay when the form was sent
    keys: tuple[web_throttle.Key, ...]

    @property
    def actor(self) -> str:
        prefix = "web" if self.realm == "staff" else "portal"
        return f"{prefix}:{self.login[:150]}"


def look_up(db: Session, *, realm: str, login: str, address: str | None,
            now: datetime) -> Candidate:
    login = login.strip()[:254]
    if realm == "staff":
        row = staff.find(db, login)
        active = row is not None and row.disabled_at is None
        owner = Owner(staff_user_id=row.id) if row is not None and active else None
        keys = _keys(realm, f"#{row.id}" if row else staff.normalize_login(login), address)
        return Candidate(realm, staff.normalize_login(login), owner,
                         row.password_hash if owner and row else None,
                         _org_code(db, row) if row else None,
                         web_throttle.wait(db, keys, now), keys)
    account = find_portal_account(db, login)
    owner = Owner(portal_account_id=account.id) if account else None
    keys = _keys(realm, f"#{account.id}" if account else login, address)
    return Candidate(realm, login.casefold(), owner,
                     account.password_hash if account else None, None,
                     web_throttle.wait(db, keys, now), keys)


def _keys(realm: str, account: str, address: str | None) -> tuple[web_throttle.Key, ...]:
    """An existing account counts by its id ("#12"), so its login and e-mail share one count;
    an unknown name by itself ("#" never starts a login or an e-mail)."""
    return tuple(web_throttle.keys(realm=realm, account=account, address=address))


def find_portal_account(db: Session, login_or_email: str) -> PortalAccountRow | None:
    wanted = login_or_email.strip().casefold()
    if not wanted:
        return None
    return db.scalars(select(PortalAccountRow).where(or_(
        PortalAccountRow.login == wanted, PortalAccountRow.email == wanted))).first()


def _org_code(db: Session, row: StaffUserRow) -> str | None:
    user = staff.get(db, row.id)
    return user.organization_code if user else None


def judge(candidate: Candidate, password: str, *, allow_demo_password: bool) -> Verdict:
    """The outcome of the form. Outside the demo profile the demo password is simply wrong
    (same answer, same count): a demo database moved into production must not even tell an
    outsider that its public password once was right."""
    if candidate.wait:
        return Verdict.delayed
    if not allow_demo_password and password == web_passwords.DEMO_PASSWORD:
        web_passwords.verify(None, password)  # spend the time a real check spends
        return Verdict.wrong
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
        return Settled(None, web_throttle.wait(db, candidate.keys, now))
    web_throttle.record_success(db, candidate.keys[0])
    web_sessions.purge(db, policy=policy, now=now)
    web_throttle.purge(db, now)
    token, _ = web_sessions.create(db, owner=candidate.owner, policy=policy, now=now, ip=address,
                                   user_agent=user_agent)
    _audit(db, candidate, "web.login", now, details)
    return Settled(token, timedelta(0))


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
