"""Which medical organisation can sign now: the rule every start of signing obeys, and the
list the console, the metrics and the readiness check show.

An МО whose signing identity is not usable (expired, not yet valid, missing, invalid) gets no
new signing — ``mo_signing_unavailable`` names it and says why — while every other МО goes on.
The check is the signer provider's ``status`` (``medsign.signing.countersign.SignerProvider``;
one instance per process, so what it caches is shared): asking is cheap and asks no one
outside the process.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

from medsign.db.models import OrganizationRow
from medsign.domain.signing_identity import IdentityState, IdentityStatus, explain
from medsign.errors import Conflict
from medsign.records import organizations
from medsign.records.scope import Scope

UNAVAILABLE = "mo_signing_unavailable"


class IdentityCheck(Protocol):
    """The part of the signer provider that says whether an МО can sign."""

    def status(self, code: str, *, name: str, ogrn: str, inn: str,
               now: datetime) -> IdentityStatus: ...


@dataclass(frozen=True)
class OrganizationIdentity:
    """One МО's identity as staff see it."""

    code: str
    name: str
    status: IdentityStatus

    @property
    def reason(self) -> str:
        return explain(self.status)

    @property
    def refusal(self) -> str:
        """Why no signing starts for this МО, as one sentence for staff."""
        return (f"Медицинская организация «{self.name}» сейчас не может подписывать документы "
                f"({self.reason or self.status.state.label}). Новые подписания для неё "
                "остановлены; обратитесь к администратору системы.")

    @property
    def health(self) -> str:
        """As the console's health badges say it: "ok", "degraded" (expiring) or "down"."""
        if not self.status.usable:
            return "down"
        return "degraded" if self.status.state is IdentityState.expiring else "ok"


def status_of(identities: IdentityCheck, org: OrganizationRow, *,
              now: datetime) -> OrganizationIdentity:
    status = identities.status(org.code, name=org.name, ogrn=org.ogrn, inn=org.inn, now=now)
    return OrganizationIdentity(org.code, org.name, status)


def require_usable(identities: IdentityCheck, org: OrganizationRow, *, now: datetime) -> None:
    """Refuse to start signing for an МО that cannot sign at ``now``."""
    found = status_of(identities, org, now=now)
    if not found.status.usable:
        raise Conflict(UNAVAILABLE, found.refusal, organization=org.code,
                       identity_state=found.status.state.value)


def of_organization(db: Session, *, identities: IdentityCheck, scope: Scope, code: str,
                    now: datetime) -> OrganizationIdentity:
    """One МО's identity (404 outside ``scope``)."""
    return status_of(identities, organizations.get(db, scope=scope, code=code), now=now)


def overview(db: Session, *, identities: IdentityCheck,
             now: datetime) -> list[OrganizationIdentity]:
    """Every МО of the database, by code (callers narrow it to a scope)."""
    return [status_of(identities, org, now=now) for org in organizations.every(db)]


def needing_attention(found: Sequence[OrganizationIdentity]) -> list[OrganizationIdentity]:
    """Those staff must be told about: every МО whose identity is not simply in force."""
    return [o for o in found if o.status.state is not IdentityState.ok]


def health(found: Sequence[OrganizationIdentity]) -> str:
    """The worst of them: "down" when an МО cannot sign, "degraded" when one expires soon,
    "ok" — or "unknown" when there is no МО yet."""
    states = {o.health for o in found}
    return next((s for s in ("down", "degraded", "ok") if s in states), "unknown")
