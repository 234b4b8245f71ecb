"""Password login of staff and patients: throttled, audited, slow only where it must be.

A login runs in phases so that the slow Argon2 check holds no database lock: :func:`look_up`
reads the account, the throttle state and the browser's device tokens; :func:`claim_device`
(only when a device token vouches for the account) counts the attempt against that token;
:func:`judge` checks the password; :func:`settle` writes the outcome (throttle counts, the
device token, audit, a new session on success).

The delay of an account binds every attempt on it except one made with a device token of that
account (``domain.login_devices``): that one has the token's own failure limit instead, so an
attacker who keeps the account behind its delay cannot keep its owner out. The per-address
delay binds every attempt.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import Enum

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from medsign.accounts import devices as device_cookies
from medsign.accounts import passwords, sessions, staff, throttle
from medsign.accounts.sessions import Owner, SessionPolicy
from medsign.db.models import PortalAccountRow, StaffUserRow
from medsign.domain.login_devices import cookie_value, tokens_in
from medsign.records import audit


class Verdict(Enum):
    ok = "ok"
    delayed = "delayed"  # too soon after failures: answered at once, the password unchecked
    wrong = "wrong"
    weak = "weak"  # the right password, but one the policy no longer allows here


@dataclass(frozen=True)
class Settled:
    token: str | None  # the new session's cookie value after a good login
    wait: timedelta  # how long the next attempt must wait after a failure (maybe zero)
    devices: str | None = None  # the device cookie's new value after a good login


@dataclass(frozen=True)
class Candidate:
    """The account a login form names (``owner`` is None when there is no such account)."""

    realm: str  # "staff" or "portal"
    login: str
    owner: Owner | None
    password_hash: str | None
    organization_code: str | None
    wait: timedelta  # left of the delay when the form was sent
    keys: tuple[throttle.Key, ...]  # the account's first, then the address's
    device: str | None = None  # the browser's token that vouches for this account
    other_devices: tuple[str, ...] = ()  # its live tokens of other accounts

    @property
    def limited_by(self) -> tuple[throttle.Key, ...]:
        """The counts this attempt waits for and adds to: a vouched one skips the account's."""
        return self.keys[1:] if self.device is not None else self.keys

    @property
    def actor(self) -> str:
        prefix = "web" if self.realm == "staff" else "portal"
        return f"{prefix}:{self.login[:150]}"


def look_up(db: Session, *, realm: str, login: str, address: str | None, now: datetime,
            device_cookie: str | None = None) -> Candidate:
    """The account the form names, the browser's device tokens sorted against it, and the
    wait in force for this attempt."""
    found = _account(db, realm, login.strip()[:254], address)
    devices = device_cookies.find(db, tokens_in(device_cookie), found.owner, now)
    candidate = replace(found, device=devices.vouching, other_devices=devices.others)
    return replace(candidate, wait=throttle.wait(db, candidate.limited_by, now))


def _account(db: Session, realm: str, login: str, address: str | None) -> Candidate:
    if realm == "staff":
        row = staff.find(db, login)
        active = row is not None and row.disabled_at is None
        owner = Owner(staff_user_id=row.id) if row is not None and active else None
        keys = _keys(realm, f"#{row.id}" if row else staff.normalize_login(login), address)
        return Candidate(realm, staff.normalize_login(login), owner,
                         row.password_hash if owner and row else None,
                         _org_code(db, row) if row else None, timedelta(0), keys)
    account = find_portal_account(db, login)
    # A disabled account is judged like an unknown name: the same answer, the same count.
    active = account is not None and account.disabled_at is None
    owner = Owner(portal_account_id=account.id) if account is not None and active else None
    keys = _keys(realm, f"#{account.id}" if account else login, address)
    return Candidate(realm, login.casefold(), owner,
                     account.password_hash if account is not None and active else None, None,
                     timedelta(0), keys)


def claim_device(db: Session, candidate: Candidate, now: datetime) -> Candidate:
    """Count the attempt against the vouching device token before the password is judged
    (see ``accounts.devices``). A token spent meanwhile vouches no more: the attempt is
    then judged like one without it, under the account's delay."""
    if candidate.device is None or candidate.wait:
        return candidate  # nothing to claim, or answered "wait" without a check anyway
    if device_cookies.claim(db, candidate.device, now):
        return candidate
    unvouched = replace(candidate, device=None)
    return replace(unvouched, wait=throttle.wait(db, unvouched.keys, now))


def _keys(realm: str, account: str, address: str | None) -> tuple[throttle.Key, ...]:
    """An existing account counts by its id ("#12"), so its login and e-mail share one count;
    an unknown name by itself ("#" never starts a login or an e-mail)."""
    return tuple(throttle.keys(realm=realm, account=account, address=address))


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
    if not allow_demo_password and password == passwords.DEMO_PASSWORD:
        passwords.verify(None, password)  # spend the time a real check spends
        return Verdict.wrong
    if not passwords.verify(candidate.password_hash, password) or candidate.owner is None:
        return Verdict.wrong
    if not passwords.acceptable(password, login=candidate.login,
                                allow_demo=allow_demo_password):
        return Verdict.weak
    return Verdict.ok


def settle(db: Session, candidate: Candidate, verdict: Verdict, *, now: datetime,
           policy: SessionPolicy, address: str | None,
           user_agent: str | None) -> Settled:
    """Write the outcome: throttle counts, audit, and a new session after a good login."""
    details: dict[str, object] = {"address": address, "realm": candidate.realm}
    if candidate.device is not None:
        details["device"] = True  # a browser that logged in here before
    if verdict is Verdict.wrong:
        throttle.record_failure(db, candidate.limited_by, now)
        if candidate.device is not None and device_cookies.settle_wrong(db, candidate.device):
            details["device_revoked"] = True
    elif verdict is Verdict.weak and candidate.device is not None:
        device_cookies.settle_right(db, candidate.device)
    if verdict is not Verdict.ok or candidate.owner is None:
        _audit(db, candidate, f"web.login_{verdict.value}", now, details)
        return Settled(None, throttle.wait(db, candidate.limited_by, now))
    if candidate.device is None:
        # Only a login that waited out the account's delay clears it: the owner's logins with
        # a device token must not hand an attacker fresh free guesses.
        throttle.record_success(db, candidate.keys[0])
    device = device_cookies.remember(db, candidate.device, candidate.owner, now)
    sessions.purge(db, policy=policy, now=now)
    throttle.purge(db, now)
    token, _ = sessions.create(db, owner=candidate.owner, policy=policy, now=now, ip=address,
                               user_agent=user_agent)
    if candidate.owner.portal_account_id is not None:  # the console lists the last login
        db.execute(update(PortalAccountRow)
                   .where(PortalAccountRow.id == candidate.owner.portal_account_id)
                   .values(last_login_at=now))
    if candidate.owner.staff_user_id is not None:  # and the users page, an employee's
        db.execute(update(StaffUserRow)
                   .where(StaffUserRow.id == candidate.owner.staff_user_id)
                   .values(last_login_at=now))
    _audit(db, candidate, "web.login", now, details)
    return Settled(token, timedelta(0), cookie_value(device, candidate.other_devices))


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
