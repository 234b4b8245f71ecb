"""The state of a medical organisation's signing identity, as staff, metrics and the API see it.

An МО may sign only with a certificate that is in force: not yet valid or expired means no
signing for that МО (others go on). A certificate that ends within the warning period still
signs, and the console and the metrics say so beforehand. The key store
(``medsign.signing.identities``) finds the certificates; the rules of this module judge them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

DEFAULT_WARNING = timedelta(days=30)


class IdentityState(enum.StrEnum):
    ok = "ok"
    expiring = "expiring"  # in force, ends within the warning period
    expired = "expired"
    not_yet_valid = "not_yet_valid"
    missing = "missing"  # no key or certificate for this МО
    invalid = "invalid"  # present but unusable: wrong МО, broken chain, revoked, bad permissions

    @property
    def usable(self) -> bool:
        return self in (IdentityState.ok, IdentityState.expiring)

    @property
    def label(self) -> str:
        """In Russian, for staff."""
        return _LABELS[self]


_LABELS = {
    IdentityState.ok: "действует",
    IdentityState.expiring: "скоро истекает",
    IdentityState.expired: "истёк",
    IdentityState.not_yet_valid: "ещё не действует",
    IdentityState.missing: "нет ключа",
    IdentityState.invalid: "непригоден",
}


@dataclass(frozen=True)
class CertificateFacts:
    """What identifies one МО certificate to people and to certified providers."""

    subject: str
    serial: str  # hex, upper case
    issuer: str
    not_before: datetime
    not_after: datetime
    thumbprint: str  # SHA-1 of the DER, hex upper case: how КриптоПро names a certificate
    sha256: str


@dataclass(frozen=True)
class IdentityStatus:
    organization: str  # МО code
    state: IdentityState
    reason: str = ""  # Russian, for staff; empty when the state says it all
    certificate: CertificateFacts | None = None  # the one new signatures use (or the newest)
    days_left: int | None = None

    @property
    def usable(self) -> bool:
        return self.state.usable


def by_validity(not_before: datetime, not_after: datetime, *, now: datetime,
                warning: timedelta = DEFAULT_WARNING) -> tuple[IdentityState, int]:
    """The state a certificate's period gives at ``now``, and whole days left (negative once
    expired)."""
    days_left = (not_after - now) // timedelta(days=1)
    if now < not_before:
        return IdentityState.not_yet_valid, days_left
    if now > not_after:
        return IdentityState.expired, days_left
    if not_after - now <= warning:
        return IdentityState.expiring, days_left
    return IdentityState.ok, days_left


def explain(status: IdentityStatus) -> str:
    """What staff read about the identity beside its state (empty when it is simply in
    force): the provider's reason when it gave one, or what the certificate's dates say."""
    if status.reason:
        return status.reason
    cert = status.certificate
    if status.state is IdentityState.missing:
        return "нет ключа и сертификата подписи для этой медицинской организации"
    if cert is None:
        return "" if status.usable else status.state.label
    if status.state is IdentityState.expired:
        return f"срок действия сертификата истёк {cert.not_after:%d.%m.%Y}"
    if status.state is IdentityState.not_yet_valid:
        return f"сертификат начнёт действовать {cert.not_before:%d.%m.%Y}"
    if status.state is IdentityState.expiring:
        return f"сертификат действует до {cert.not_after:%d.%m.%Y}, дней осталось: " \
               f"{status.days_left}"
    return ""
