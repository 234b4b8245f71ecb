"""Which of an МО's certificates signs for it, and whether a certificate names that МО.

An МО may hold several identities at once (one folder per certificate in the key store):
during a rotation the new certificate is imported before the old one ends. New signatures
use the newest identity that is usable now — latest notBefore among those without a problem
and in force; the others stay for the evidence of what they signed. When none is usable,
the МО signs nothing and staff are told the most relevant reason: a certificate that only
waits for its start, then one that has ended, then one that is broken, then none at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from medsign.domain.signing_identity import (
    DEFAULT_WARNING,
    CertificateFacts,
    IdentityState,
    IdentityStatus,
    by_validity,
)

# The order in which an unusable identity explains the МО's state (first = most relevant).
_RELEVANCE = (IdentityState.not_yet_valid, IdentityState.expired, IdentityState.invalid)


@dataclass(frozen=True)
class Candidate:
    """One identity of an МО as the key store found it."""

    name: str  # its folder in the key store
    certificate: CertificateFacts | None
    problem: str = ""  # Russian: why it cannot sign whatever the date (empty: it can)


@dataclass(frozen=True)
class Requisites:
    """What the МО is on record (the МО API) and what its certificate must say."""

    code: str
    name: str
    ogrn: str
    inn: str


@dataclass(frozen=True)
class SubjectIds:
    """The identifiers a certificate's subject carries (Приказ ФСБ № 795), as written."""

    ogrn: str | None = None
    inn: str | None = None  # ИНН, 1.2.643.3.131.1.1: 12 digits (a legal entity's zero-padded)
    inn_le: str | None = None  # ИННЮЛ, 1.2.643.100.4: a legal entity's 10 digits


def requisites_problem(mo: Requisites, subject: SubjectIds) -> str:
    """Why a certificate does not name the МО ("" when it does).

    ОГРН must be present and equal. ИНН is compared when the subject says the legal entity's
    one: ИННЮЛ, or an ИНН of 10 digits (or 12 with two leading zeros, the older form). A
    12-digit ИНН without them is a person's (the head's, in certificates ФНС issues to
    legal entities since 2022) and says nothing about the МО.
    """
    who = f"МО «{mo.name}» ({mo.code})"
    if not subject.ogrn:
        return f"в сертификате нет ОГРН (1.2.643.100.1): он не выдан {who}"
    if subject.ogrn != mo.ogrn:
        return f"сертификат выдан не {who}: ОГРН в сертификате {subject.ogrn}, у МО {mo.ogrn}"
    inn = subject.inn_le or _legal_entity_inn(subject.inn)
    if inn is not None and inn != mo.inn:
        return f"сертификат выдан не {who}: ИНН в сертификате {inn}, у МО {mo.inn}"
    return ""


def _legal_entity_inn(inn: str | None) -> str | None:
    if inn is None:
        return None
    if len(inn) == 12 and inn.startswith("00"):
        return inn[2:]
    return inn if len(inn) == 10 else None


def judge(candidate: Candidate, *, now: datetime,
          warning: timedelta = DEFAULT_WARNING) -> tuple[IdentityState, int | None]:
    """The identity's state at ``now`` and its whole days left (None without a certificate)."""
    facts = candidate.certificate
    if facts is None:
        return IdentityState.invalid, None
    state, days_left = by_validity(facts.not_before, facts.not_after, now=now, warning=warning)
    return (IdentityState.invalid if candidate.problem else state), days_left


def choose(mo: Requisites, candidates: Sequence[Candidate], *, now: datetime,
           warning: timedelta = DEFAULT_WARNING) -> tuple[Candidate | None, IdentityStatus]:
    """The identity new signatures use (None when there is none), and the МО's status."""
    judged = [(c, *judge(c, now=now, warning=warning)) for c in candidates]
    usable = [j for j in judged if j[1].usable]
    if usable:
        chosen, state, days_left = max(usable, key=lambda j: _newest(j[0]))
        return chosen, IdentityStatus(mo.code, state, certificate=chosen.certificate,
                                      days_left=days_left)
    if not judged:
        return None, IdentityStatus(mo.code, IdentityState.missing, "нет ключа подписи")
    worst = min(judged, key=lambda j: (_RELEVANCE.index(j[1]), _newest_first(j[0])))
    # the reason names the identities, not the МО: it is shown beside the МО's name
    reason = "; ".join(describe(c, state) for c, state, _ in judged)
    return None, IdentityStatus(mo.code, worst[1], reason, certificate=worst[0].certificate,
                                days_left=worst[2])


def unable(mo: Requisites, status: IdentityStatus) -> str:
    """Why the МО cannot sign, as a sentence that stands alone (a log, a failed request, the
    command line): the МО named, then the status's reason."""
    return f"МО «{mo.name}» ({mo.code}) не может подписывать: {status.reason}"


def describe(candidate: Candidate, state: IdentityState) -> str:
    """One identity's state in Russian, for a reason or a list."""
    facts = candidate.certificate
    if candidate.problem or facts is None:
        return f"«{candidate.name}» {state.label}: {candidate.problem}"
    if state is IdentityState.not_yet_valid:
        return f"«{candidate.name}» {state.label} (с {facts.not_before:%d.%m.%Y %H:%M} UTC)"
    return f"«{candidate.name}» {state.label} (до {facts.not_after:%d.%m.%Y %H:%M} UTC)"


def _newest(candidate: Candidate) -> tuple[datetime, datetime, str]:
    facts = candidate.certificate
    if facts is None:  # never usable; here for the type
        return datetime.min, datetime.min, candidate.name
    return facts.not_before, facts.not_after, candidate.name


def _newest_first(candidate: Candidate) -> tuple[float, str]:
    facts = candidate.certificate
    return (-facts.not_before.timestamp() if facts else 0.0), candidate.name
