"""Device tokens in the database: which of a browser's tokens vouches for an account, an
attempt taken against a token's failure limit, revocation, and a fresh or refreshed token after
a good login (the rule is :mod:`medsign.domain.login_devices`).

The cookie holds the tokens; the table keeps their SHA-256 only, so a copy of the database
lets nobody skip a delay. An attempt with a token is *claimed* before the password is checked
(``failures + 1`` in one conditional UPDATE): however many attempts run at once, no more than
the rule's limit are ever judged with one token.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Delete, Update, delete, select, update
from sqlalchemy.orm import Session

from medsign.accounts.sessions import Owner, digest
from medsign.db.models import LoginDeviceRow
from medsign.domain.login_devices import DEVICE, TOKEN_BYTES, Device, DeviceRule


@dataclass(frozen=True)
class Found:
    """A browser's tokens, sorted: the one vouching for the account being logged into (if
    any), and the live ones of other accounts (kept in the cookie after this login)."""

    vouching: str | None
    others: tuple[str, ...]


def find(db: Session, tokens: Sequence[str], owner: Owner | None, now: datetime,
         rule: DeviceRule = DEVICE) -> Found:
    if not tokens:
        return Found(None, ())
    by_hash = {digest(t): t for t in tokens}
    rows = db.scalars(select(LoginDeviceRow).where(LoginDeviceRow.token_hash.in_(by_hash)))
    devices = {row.token_hash: _device(row) for row in rows}
    vouching = None
    if owner is not None and not owner.anonymous:
        realm, account_id = _account(owner)
        vouching = next((by_hash[h] for h, d in devices.items()
                         if d.vouches_for(realm, account_id, now, rule)), None)
    others = tuple(t for h, t in by_hash.items()
                   if t != vouching and h in devices and devices[h].live(now, rule))
    return Found(vouching, others)


def claim(db: Session, token: str, now: datetime, rule: DeviceRule = DEVICE) -> bool:
    """Count one attempt against ``token`` before its password is judged; False when the
    token no longer vouches (spent or expired meanwhile)."""
    return _changed(db, update(LoginDeviceRow).where(
        LoginDeviceRow.token_hash == digest(token), LoginDeviceRow.failures < rule.failures,
        LoginDeviceRow.expires_at > now).values(failures=LoginDeviceRow.failures + 1))


def settle_wrong(db: Session, token: str, rule: DeviceRule = DEVICE) -> bool:
    """The claimed attempt was a wrong password: revoke the token once it has used up its
    failures. True when it was revoked."""
    return _changed(db, delete(LoginDeviceRow).where(
        LoginDeviceRow.token_hash == digest(token), LoginDeviceRow.failures >= rule.failures))


def settle_right(db: Session, token: str) -> None:
    """The right password was typed with ``token``: its failures start over."""
    _changed(db, update(LoginDeviceRow).where(LoginDeviceRow.token_hash == digest(token))
             .values(failures=0))


def remember(db: Session, token: str | None, owner: Owner, now: datetime,
             rule: DeviceRule = DEVICE) -> str:
    """After a good login: the token that vouched, its life renewed, or a new one."""
    renewed = update(LoginDeviceRow).where(LoginDeviceRow.token_hash == digest(token or "")) \
        .values(failures=0, last_used_at=now, expires_at=now + rule.lifetime)
    if token is not None and _changed(db, renewed):
        return token
    fresh = secrets.token_urlsafe(TOKEN_BYTES)
    db.add(LoginDeviceRow(token_hash=digest(fresh), staff_user_id=owner.staff_user_id,
                          portal_account_id=owner.portal_account_id, failures=0,
                          created_at=now, last_used_at=now, expires_at=now + rule.lifetime))
    return fresh


def _changed(db: Session, statement: Update | Delete) -> bool:
    """Whether the statement touched a row (Core, through the session's transaction)."""
    return bool(db.connection().execute(statement).rowcount)


def _device(row: LoginDeviceRow) -> Device:
    realm = "staff" if row.staff_user_id is not None else "portal"
    account_id = row.staff_user_id if row.staff_user_id is not None else row.portal_account_id
    return Device(realm, account_id if account_id is not None else -1, row.failures,
                  row.expires_at)


def _account(owner: Owner) -> tuple[str, int]:
    if owner.staff_user_id is not None:
        return "staff", owner.staff_user_id
    if owner.portal_account_id is None:
        raise ValueError("an anonymous owner has no account to vouch for")
    return "portal", owner.portal_account_id
