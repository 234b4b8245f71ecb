"""Biometrics for a bound device: a WebAuthn credential of the device's platform
authenticator (fingerprint, Face ID), with user verification required every time.

The credential belongs to a device row (``accounts.app_devices``): it is registered by a
logged-in patient on a device already bound with its PIN, and it unlocks that device only.
Each ceremony takes a one-time challenge of its own purpose. The checks — the challenge, the
origin, the RP ID, the UV flag, the signature and the sign count — are the ``webauthn``
package's; what is accepted is written here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorAttachment,
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from medsign.accounts import app_devices
from medsign.accounts.app_devices import Outcome, Unlock
from medsign.db.models import AppDeviceRow
from medsign.domain.app_devices import RULE, Method, Purpose, QuickLoginRule, RelyingParty

TIMEOUT_MS = 60_000
MAX_CREDENTIAL_CHARS = 20_000


@dataclass(frozen=True)
class Ceremony:
    """What the page passes to ``navigator.credentials``: the options (JSON) and the
    challenge to send back with the answer."""

    options: dict[str, Any]
    challenge: str


def registration_options(db: Session, *, device: app_devices.Device, user_name: str,
                         rp: RelyingParty, now: datetime,
                         rule: QuickLoginRule = RULE) -> Ceremony:
    challenge = app_devices.issue_challenge(db, device_id=device.id,
                                            purpose=Purpose.webauthn_register, now=now,
                                            rule=rule)
    options = generate_registration_options(
        rp_id=rp.id, rp_name=rp.name, user_name=user_name[:64] or "patient",
        user_id=device.id.encode(), challenge=base64url_to_bytes(challenge),
        timeout=TIMEOUT_MS,
        authenticator_selection=AuthenticatorSelectionCriteria(
            authenticator_attachment=AuthenticatorAttachment.PLATFORM,
            resident_key=ResidentKeyRequirement.DISCOURAGED,
            user_verification=UserVerificationRequirement.REQUIRED))
    return Ceremony(json.loads(options_to_json(options)), challenge)


def register(db: Session, *, device: app_devices.Device, challenge: str, credential: str,
             rp: RelyingParty, now: datetime, actor: str) -> bool:
    """Check the authenticator's answer and keep its credential; biometrics becomes this
    device's way in. False (nothing changes) when the answer does not pass."""
    if len(credential) > MAX_CREDENTIAL_CHARS or not app_devices.take_challenge(
            db, device_id=device.id, challenge=challenge, purpose=Purpose.webauthn_register,
            now=now):
        return False
    try:
        verified = verify_registration_response(
            credential=credential, expected_challenge=base64url_to_bytes(challenge),
            expected_rp_id=rp.id, expected_origin=rp.origin, require_user_verification=True)
    except (WebAuthnException, ValueError, KeyError, TypeError):
        return False
    db.execute(update(AppDeviceRow).where(AppDeviceRow.id == device.id).values(
        credential_id=bytes_to_base64url(verified.credential_id),
        credential_public_key=bytes_to_base64url(verified.credential_public_key),
        sign_count=verified.sign_count, method=Method.biometrics.value))
    app_devices.audit_device(db, actor=actor, action="app.biometrics_registered",
                             device_id=device.id, now=now, details={})
    return True


def login_options(db: Session, *, device: app_devices.Device, rp: RelyingParty,
                  now: datetime, rule: QuickLoginRule = RULE) -> Ceremony | None:
    row = db.get(AppDeviceRow, device.id)
    if row is None or row.credential_id is None:
        return None
    challenge = app_devices.issue_challenge(db, device_id=device.id,
                                            purpose=Purpose.webauthn_login, now=now, rule=rule)
    options = generate_authentication_options(
        rp_id=rp.id, challenge=base64url_to_bytes(challenge), timeout=TIMEOUT_MS,
        allow_credentials=[PublicKeyCredentialDescriptor(
            id=base64url_to_bytes(row.credential_id))],
        user_verification=UserVerificationRequirement.REQUIRED)
    return Ceremony(json.loads(options_to_json(options)), challenge)


def login(db: Session, *, device: app_devices.Device, challenge: str, credential: str,
          rp: RelyingParty, now: datetime, rule: QuickLoginRule = RULE) -> Unlock:
    """Unlock by biometrics: the device's own credential, the user verified, the sign count
    moved on. A failure spends no PIN attempt (nothing is guessed here)."""
    row = db.get(AppDeviceRow, device.id)
    if row is None or row.credential_id is None or row.credential_public_key is None:
        return Unlock(Outcome.not_bound)
    if len(credential) > MAX_CREDENTIAL_CHARS or not app_devices.take_challenge(
            db, device_id=device.id, challenge=challenge, purpose=Purpose.webauthn_login,
            now=now):
        return Unlock(Outcome.expired)
    try:
        given = json.loads(credential)
        if not isinstance(given, dict) or given.get("id") != row.credential_id:
            raise ValueError("another credential")
        verified = verify_authentication_response(
            credential=given, expected_challenge=base64url_to_bytes(challenge),
            expected_rp_id=rp.id, expected_origin=rp.origin,
            credential_public_key=base64url_to_bytes(row.credential_public_key),
            credential_current_sign_count=row.sign_count, require_user_verification=True)
    except (WebAuthnException, ValueError, KeyError, TypeError):
        app_devices.audit_device(db, actor="anonymous", action="app.unlock_refused",
                                 device_id=device.id, now=now, details={"reason": "webauthn"})
        return Unlock(Outcome.biometrics_refused)
    db.execute(update(AppDeviceRow).where(AppDeviceRow.id == device.id).values(
        sign_count=verified.new_sign_count, failures=0, last_used_at=now,
        expires_at=now + rule.lifetime))
    app_devices.audit_device(db, actor=app_devices.actor_of(db, device.account_id),
                             action="app.unlock", device_id=device.id, now=now,
                             details={"method": "biometrics"})
    return Unlock(Outcome.ok, device.account_id)
