"""Quick login in the app «К врачу»: the rules of a device bound to a patient's account.

At the first login the page makes a key pair the browser will not export (WebCrypto, ECDSA
P-256) and registers its public key with a four-digit PIN. Unlocking later takes both: a
signature by that key over a one-time challenge (only this browser can make it) and the PIN
(only the patient knows it). The server counts wrong PINs per device; after
``pin_attempts`` of them the device is unbound and only a full login helps. Biometrics
(WebAuthn, user verification required) replaces the PIN on devices that have a platform
authenticator. The threat model is in ``docs/patient-app.md``.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from urllib.parse import urlsplit

PIN = re.compile(r"[0-9]{4}")
DEVICE_ID = re.compile(r"[A-Za-z0-9_-]{22}")  # secrets.token_urlsafe(16)
CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)
DEVICE_ID_BYTES = 16
CHALLENGE_BYTES = 32
SIGNED_PREFIX = "medsign quick login v1"

PIN_FORMAT = "PIN-код — это четыре цифры."
PIN_MISMATCH = "Неверный пароль. Попробуйте еще раз"  # seed 3.4.2, exactly
UNBOUND = ("Слишком много неверных попыток. Быстрый вход на этом устройстве отключён: "
           "войдите с паролем.")
NOT_BOUND = "Быстрый вход на этом устройстве не настроен или отключён: войдите с паролем."
EXPIRED = "Время на вход истекло. Попробуйте ещё раз."
NOT_THIS_DEVICE = ("Не удалось подтвердить это устройство. Быстрый вход на нём недоступен: "
                   "войдите с паролем.")
BIOMETRICS_FAILED = ("Не удалось подтвердить вход отпечатком пальца или Face ID. "
                     "Попробуйте ещё раз или войдите с паролем.")


class Method(StrEnum):
    """How the patient unlocks this device: the choice of the form after the PIN."""

    pin = "pin"
    biometrics = "biometrics"


class Purpose(StrEnum):
    """What a one-time challenge may be used for: never one for another."""

    unlock = "unlock"
    webauthn_register = "webauthn_register"
    webauthn_login = "webauthn_login"


@dataclass(frozen=True)
class QuickLoginRule:
    pin_attempts: int = 5  # wrong PINs on one device before it is unbound
    challenge_ttl: timedelta = timedelta(minutes=2)
    lifetime: timedelta = timedelta(days=180)  # a device unused this long is no longer bound


RULE = QuickLoginRule()


@dataclass(frozen=True)
class RelyingParty:
    """WebAuthn's view of this site (see :func:`relying_party`)."""

    id: str
    origin: str
    name: str = "К врачу"


@dataclass(frozen=True)
class BoundDevice:
    """A stored device, as the rules see it."""

    failures: int
    expires_at: datetime

    def live(self, now: datetime, rule: QuickLoginRule = RULE) -> bool:
        return now < self.expires_at and self.failures < rule.pin_attempts

    def attempts_left(self, rule: QuickLoginRule = RULE) -> int:
        return max(rule.pin_attempts - self.failures, 0)


def pin_problem(pin: str) -> str | None:
    """Why ``pin`` cannot be a PIN (in Russian), or None."""
    return None if PIN.fullmatch(pin) else PIN_FORMAT


def unbinds_after(failures: int, rule: QuickLoginRule = RULE) -> bool:
    """Whether a device with ``failures`` wrong PINs (this one counted) is unbound now."""
    return failures >= rule.pin_attempts


def wrong_pin_text(attempts_left: int) -> str:
    if attempts_left <= 0:
        return UNBOUND
    return f"Неверный PIN-код. Осталось попыток: {attempts_left}."


def signed_message(device_id: str, challenge: str) -> bytes:
    """What the device key signs to unlock: the challenge, bound to this device and to this
    purpose (a signature made for anything else never matches)."""
    return f"{SIGNED_PREFIX}\n{device_id}\n{challenge}".encode()


def challenge_expires(now: datetime, rule: QuickLoginRule = RULE) -> datetime:
    return now + rule.challenge_ttl


def relying_party(public_url: str, rp_id: str = "", origin: str = "") -> tuple[str, str]:
    """WebAuthn's RP ID and origin: as configured, or the host and origin of the site."""
    parts = urlsplit(public_url)
    default_origin = f"{parts.scheme}://{parts.netloc}"
    return (rp_id or (parts.hostname or "")).lower(), (origin or default_origin).rstrip("/")


def relying_party_problem(rp_id: str, origin: str) -> str | None:
    """Why browsers would refuse this RP ID for this origin (in Russian), or None: an IP
    address is never an RP ID, and the RP ID must be the origin's host or a suffix of it."""
    host = (urlsplit(origin).hostname or "").lower()
    try:
        ipaddress.ip_address(rp_id)
    except ValueError:
        pass
    else:
        return ("IP-адрес не может быть идентификатором WebAuthn: откройте сайт по имени "
                "(например, http://localhost:8000) и укажите это имя")
    if not rp_id or not (host == rp_id or host.endswith("." + rp_id)):
        return f"имя хоста адреса {origin} или его суффикс"
    return None
