"""A signer provider's ``status`` alone, for tests where a real key store is beside the point
(the rule of starting, the pages): every МО's identity is in force unless a test says
otherwise. Tests of the real key store use ``ConfiguredSigners``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from medsign.domain.signing_identity import CertificateFacts, IdentityState, IdentityStatus


@dataclass
class Identities:
    statuses: dict[str, IdentityStatus] = field(default_factory=dict)

    def set(self, code: str, state: IdentityState, reason: str = "", *,
            certificate: CertificateFacts | None = None, days_left: int | None = None) -> None:
        self.statuses[code] = IdentityStatus(code, state, reason, certificate, days_left)

    def status(self, code: str, *, name: str, ogrn: str, inn: str,
               now: datetime) -> IdentityStatus:
        return self.statuses.get(code, IdentityStatus(code, IdentityState.ok))
