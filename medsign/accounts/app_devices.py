"""Devices bound to patients' accounts for quick login in the app «К врачу» (the rules are
:mod:`medsign.domain.app_devices`; the design and threat model are in
``docs/patient-app.md``).

Unlocking by PIN runs in phases, like the password login (``accounts.auth``), each committed
by the caller: the challenge is taken (deleted: a second use finds nothing), the signature is
checked against the device's public key, and one attempt is *claimed* (``failures + 1`` in one
conditional UPDATE) — :func:`claim_pin_attempt`; then the slow Argon2 check of the PIN, outside
any transaction — :func:`pin_right`; the outcome is written last — :func:`settle_pin`.
However many attempts run at once, no more than ``pin_attempts`` PINs are ever judged on one
device, and the one that uses up the last attempt deletes the device.

Whether an account may unlock at all is :func:`may_unlock`: the one place to extend (an
account disabled by an administrator must not unlock).
"""

from __future__ import annotations

import base64
import binascii
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import load_der_public_key
from sqlalchemy import Delete, Update, delete, select, update
from sqlalchemy.orm import Session

from medsign.accounts import passwords
from medsign.db.models import AppDeviceChallengeRow, AppDeviceRow, PortalAccountRow
from medsign.domain import app_devices as rules
from medsign.domain.app_devices import (
    CHALLENGE,
    CHALLENGE_BYTES,
    DEVICE_ID,
    DEVICE_ID_BYTES,
    RULE,
    BoundDevice,
    Method,
    Purpose,
    QuickLoginRule,
)
from medsign.errors import Unprocessable
from medsign.records import audit

log = logging.getLogger("medsign.accounts.app_devices")
MAX_KEY_CHARS = 400  # base64 of a P-256 SPKI is 124 characters
MAX_SIGNATURE_CHARS = 200


@dataclass(frozen=True)
class Device:
    id: str
    account_id: int
    method: Method
    failures: int
    has_biometrics: bool


class Outcome(Enum):
    ok = "ok"
    wrong_pin = "wrong_pin"
    unbound = "unbound"  # this attempt used up the last one: the device is gone
    not_bound = "not_bound"  # no live device (unknown, expired, unbound, account may not)
    expired = "expired"  # the challenge is unknown, used or too old
    bad_signature = "bad_signature"  # not signed by this device's key
    biometrics_refused = "biometrics_refused"  # WebAuthn's answer did not pass


@dataclass(frozen=True)
class Unlock:
    outcome: Outcome
    account_id: int | None = None
    attempts_left: int = 0

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.ok


def may_unlock(account: PortalAccountRow | None) -> bool:
    """Whether this account may be entered by quick login: THE one place for the account's
    state (an administrator's disabled account may not)."""
    return account is not None and account.disabled_at is None


def new_device_id() -> str:
    return secrets.token_urlsafe(DEVICE_ID_BYTES)


def bind(db: Session, *, account_id: int, public_key: str, pin: str, label: str | None,
         now: datetime, actor: str, rule: QuickLoginRule = RULE) -> str:
    """Bind a new device to the account: its public key (SPKI DER, base64) and its PIN.
    Returns the device id (for the cookie). Bad input changes nothing."""
    problem = rules.pin_problem(pin)
    if problem is not None:
        raise Unprocessable("bad_pin", problem)
    parse_public_key(public_key)
    pin_hash = passwords.hash_password(pin)  # slow: before the transaction writes anything
    purge(db, now=now)  # at binding, as sessions are purged at login: the tables stay small
    device_id = new_device_id()
    db.add(AppDeviceRow(id=device_id, portal_account_id=account_id, public_key=public_key,
                        pin_hash=pin_hash, method=Method.pin.value, failures=0,
                        credential_id=None, credential_public_key=None, sign_count=0,
                        label=(label or "")[:300] or None, created_at=now, last_used_at=now,
                        expires_at=now + rule.lifetime))
    audit_device(db, actor=actor, action="app.device_bound", device_id=device_id, now=now,
           details={"account_id": account_id})
    return device_id


def parse_public_key(public_key: str) -> ec.EllipticCurvePublicKey:
    """The device's public key: base64 SPKI DER of an ECDSA P-256 key, or a clear error."""
    wrong = Unprocessable("bad_public_key",
                          "Ключ устройства не подходит: нужен открытый ключ ECDSA P-256.")
    if not public_key or len(public_key) > MAX_KEY_CHARS:
        raise wrong
    try:
        key = load_der_public_key(base64.b64decode(public_key, validate=True))
    except (ValueError, binascii.Error, TypeError):
        raise wrong from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise wrong
    return key


def live_device(db: Session, device_id: str | None, now: datetime,
                rule: QuickLoginRule = RULE) -> Device | None:
    """The device a cookie names, if it is bound, live, and its account may unlock."""
    if not device_id or not DEVICE_ID.fullmatch(device_id):
        return None
    row = db.get(AppDeviceRow, device_id)
    if row is None or not _bound(row).live(now, rule):
        return None
    if not may_unlock(db.get(PortalAccountRow, row.portal_account_id)):
        return None
    return Device(row.id, row.portal_account_id, Method(row.method), row.failures,
                  row.credential_id is not None)


def choose_method(db: Session, *, device_id: str, account_id: int, method: Method,
                  now: datetime, actor: str) -> bool:
    """The patient's choice on the form after the PIN; biometrics only once registered."""
    statement = update(AppDeviceRow).where(AppDeviceRow.id == device_id,
                                           AppDeviceRow.portal_account_id == account_id)
    if method is Method.biometrics:
        statement = statement.where(AppDeviceRow.credential_id.is_not(None))
    if not _changed(db, statement.values(method=method.value)):
        return False
    audit_device(db, actor=actor, action="app.device_method", device_id=device_id, now=now,
           details={"method": method.value})
    return True


def issue_challenge(db: Session, *, device_id: str, purpose: Purpose, now: datetime,
                    rule: QuickLoginRule = RULE) -> str:
    """A fresh one-time challenge for the device. It replaces the device's earlier ones of
    the same purpose (and drops its expired ones): however often it is asked — the endpoint
    needs no session — a device holds at most one live challenge per purpose."""
    same, old = AppDeviceChallengeRow.purpose == purpose.value, \
        AppDeviceChallengeRow.expires_at <= now
    db.execute(delete(AppDeviceChallengeRow).where(
        AppDeviceChallengeRow.device_id == device_id, same | old))
    challenge = secrets.token_urlsafe(CHALLENGE_BYTES)
    db.add(AppDeviceChallengeRow(challenge=challenge, device_id=device_id, purpose=purpose.value,
                                 expires_at=rules.challenge_expires(now, rule)))
    return challenge


def take_challenge(db: Session, *, device_id: str, challenge: str, purpose: Purpose,
                   now: datetime) -> bool:
    """Use the challenge up: True for the one caller that deleted it while still fresh."""
    if not CHALLENGE.fullmatch(challenge or ""):
        return False
    return _changed(db, delete(AppDeviceChallengeRow).where(
        AppDeviceChallengeRow.challenge == challenge,
        AppDeviceChallengeRow.device_id == device_id,
        AppDeviceChallengeRow.purpose == purpose.value,
        AppDeviceChallengeRow.expires_at > now))


def signature_valid(public_key: str, device_id: str, challenge: str, signature: str) -> bool:
    """Whether ``signature`` (base64url; WebCrypto's raw r‖s, or DER) is the device key's over
    :func:`medsign.domain.app_devices.signed_message`."""
    try:
        key = parse_public_key(public_key)
        raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    except (Unprocessable, ValueError, binascii.Error):
        return False
    if not signature or len(signature) > MAX_SIGNATURE_CHARS:
        return False
    der = raw if len(raw) != 64 else encode_dss_signature(int.from_bytes(raw[:32], "big"),
                                                          int.from_bytes(raw[32:], "big"))
    try:
        key.verify(der, rules.signed_message(device_id, challenge), ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True


@dataclass(frozen=True)
class Claimed:
    """An attempt counted against a device whose key signed the challenge: its PIN is to be
    judged now (:func:`pin_right`), then the outcome written (:func:`settle_pin`)."""

    device_id: str
    account_id: int
    pin_hash: str


def claim_pin_attempt(db: Session, *, device_id: str, challenge: str, signature: str,
                      now: datetime, rule: QuickLoginRule = RULE) -> Claimed | Unlock:
    """The first phase of a PIN unlock: the device is live, the challenge is taken, the
    signature is the device key's, and one attempt is claimed (the caller commits, then
    checks the PIN outside any transaction). A wrong signature is refused without counting:
    whoever lacks the key cannot spend the owner's attempts."""
    device = live_device(db, device_id, now, rule)
    if device is None:
        return Unlock(Outcome.not_bound)
    if not take_challenge(db, device_id=device_id, challenge=challenge, purpose=Purpose.unlock,
                          now=now):
        return Unlock(Outcome.expired)
    row = db.get(AppDeviceRow, device_id)
    if row is None or not signature_valid(row.public_key, device_id, challenge, signature):
        audit_device(db, actor="anonymous", action="app.unlock_refused", device_id=device_id,
                     now=now, details={"reason": "signature"})
        return Unlock(Outcome.bad_signature)
    claimed = _changed(db, update(AppDeviceRow).where(
        AppDeviceRow.id == device_id, AppDeviceRow.failures < rule.pin_attempts,
        AppDeviceRow.expires_at > now).values(failures=AppDeviceRow.failures + 1))
    if not claimed:
        return Unlock(Outcome.not_bound)
    return Claimed(device_id, row.portal_account_id, row.pin_hash)


def pin_right(claimed: Claimed, pin: str) -> bool:
    """The slow Argon2 check: run it outside any transaction."""
    return rules.pin_problem(pin) is None and passwords.verify(claimed.pin_hash, pin)


def settle_pin(db: Session, claimed: Claimed, right: bool, *, now: datetime,
               rule: QuickLoginRule = RULE) -> Unlock:
    """The last phase: a right PIN starts the count over; the wrong one that used up the
    last attempt unbinds the device."""
    device_id, account_id = claimed.device_id, claimed.account_id
    if right:
        if not _changed(db, update(AppDeviceRow).where(AppDeviceRow.id == device_id).values(
                failures=0, last_used_at=now, expires_at=now + rule.lifetime)):
            return Unlock(Outcome.unbound, account_id)  # a wrong one in flight unbound it
        audit_device(db, actor=actor_of(db, account_id), action="app.unlock",
                     device_id=device_id, now=now, details={"method": "pin"})
        return Unlock(Outcome.ok, account_id)
    failures = db.scalar(select(AppDeviceRow.failures).where(AppDeviceRow.id == device_id))
    audit_device(db, actor=actor_of(db, account_id), action="app.unlock_wrong_pin",
                 device_id=device_id, now=now, details={"failures": failures})
    if failures is None:  # another attempt in flight has unbound it already
        return Unlock(Outcome.unbound, account_id)
    if rules.unbinds_after(failures, rule):
        _remove(db, device_id)
        audit_device(db, actor="system", action="app.device_unbound", device_id=device_id,
                     now=now, details={"reason": "pin_attempts", "account_id": account_id})
        return Unlock(Outcome.unbound, account_id)
    return Unlock(Outcome.wrong_pin, account_id, BoundDevice(failures, now).attempts_left(rule))


def unbind(db: Session, *, device_id: str, actor: str, now: datetime, reason: str) -> bool:
    """Delete one device (logout on it, «Выйти»): True when it existed."""
    if not DEVICE_ID.fullmatch(device_id or ""):
        return False
    gone = _remove(db, device_id)
    if gone:
        audit_device(db, actor=actor, action="app.device_unbound", device_id=device_id, now=now,
               details={"reason": reason})
    return gone


def unbind_all(db: Session, *, account_id: int, actor: str, now: datetime) -> int:
    """Delete every device of the account (an administrator disabled or reset it). Returns
    how many there were; each is in the audit log."""
    ids = list(db.scalars(select(AppDeviceRow.id)
                          .where(AppDeviceRow.portal_account_id == account_id)))
    for device_id in ids:
        _remove(db, device_id)
        audit_device(db, actor=actor, action="app.device_unbound", device_id=device_id, now=now,
               details={"reason": "account", "account_id": account_id})
    return len(ids)


def purge(db: Session, *, now: datetime) -> None:
    """Drop expired challenges and devices past their lifetime (called when a device is
    bound)."""
    db.execute(delete(AppDeviceChallengeRow).where(AppDeviceChallengeRow.expires_at <= now))
    for device_id in db.scalars(select(AppDeviceRow.id).where(AppDeviceRow.expires_at <= now)):
        _remove(db, device_id)


def _remove(db: Session, device_id: str) -> bool:
    db.execute(delete(AppDeviceChallengeRow).where(AppDeviceChallengeRow.device_id == device_id))
    return _changed(db, delete(AppDeviceRow).where(AppDeviceRow.id == device_id))


def _bound(row: AppDeviceRow) -> BoundDevice:
    return BoundDevice(row.failures, row.expires_at)


def actor_of(db: Session, account_id: int) -> str:
    """The audit actor of a portal account (as ``accounts.portal.PortalUser.actor``)."""
    row = db.get(PortalAccountRow, account_id)
    name = (row.login or row.email or f"esia-{row.esia_oid}") if row is not None else "?"
    return f"portal:{name}"


def _changed(db: Session, statement: Update | Delete) -> bool:
    return bool(db.connection().execute(statement).rowcount)


def audit_device(db: Session, *, actor: str, action: str, device_id: str, now: datetime,
           details: dict[str, object]) -> None:
    audit.record(db, at=now, actor=actor, action=action, subject_type="app_device",
                 subject_id=device_id, organization_code=None, details=details)
    log.info("%s %s", action, device_id)
