"""Consents attached to an appointment, and their small state machine.

A consent is one document the patient must sign before the appointment. Its
``state`` follows the electronic route; a consent the patient signs on paper
in the clinic stays ``pending`` here, because the paper is the МИС's business::

    pending ──start_signing──▶ in_signing ──mark_signed──▶ signed
       │                          │  │
       │ mark_declined            │  └─abort_signing──▶ pending   (transaction ended unsigned)
       ▼                          ▼
    declined ◀──mark_declined / choose_paper (after all)
    declined ──reopen──▶ pending   (the doctor asks again, or moves it to paper)
    pending | in_signing ──cancel──▶ cancelled

``choose_paper`` on a pending electronic consent only switches the method (the
patient will sign in the clinic); during signing it also means the online
attempt was declined.

The enums here (and the other state enums of the domain) carry a Russian
``title`` for pages and messages. It shadows ``str.title()`` on purpose:
templates read ``{{ kind.title }}``, and nobody title-cases a machine value.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from medsign.domain.errors import DomainError, InvalidTransition


class ConsentKind(StrEnum):
    medical_intervention = "medical_intervention"
    paid_services_contract = "paid_services_contract"
    personal_data = "personal_data"

    @property
    def title(self) -> str:  # type: ignore[override]  # Russian name, shadows str.title on purpose
        return _KIND_TITLES[self]

    @property
    def patient_title(self) -> str:
        """The name a patient reads (bot messages, the portal, Госключ): no abbreviations."""
        return _PATIENT_TITLES[self]


class SigningMethod(StrEnum):
    electronic = "electronic"
    paper = "paper"

    @property
    def title(self) -> str:  # type: ignore[override]  # Russian name, shadows str.title on purpose
        return "электронно" if self is SigningMethod.electronic else "на бумаге"


class ConsentState(StrEnum):
    pending = "pending"
    in_signing = "in_signing"
    signed = "signed"
    declined = "declined"
    cancelled = "cancelled"

    @property
    def title(self) -> str:  # type: ignore[override]  # Russian name, shadows str.title on purpose
        return _STATE_TITLES[self]


_KIND_TITLES = {
    ConsentKind.medical_intervention: "ИДС на медицинское вмешательство",
    ConsentKind.paid_services_contract: "Договор на оказание платных медицинских услуг",
    ConsentKind.personal_data: "Согласие на обработку персональных данных",
}

_PATIENT_TITLES = {
    ConsentKind.medical_intervention: "Согласие на медицинское вмешательство",
    ConsentKind.paid_services_contract: "Договор на оказание платных медицинских услуг",
    ConsentKind.personal_data: "Согласие на обработку персональных данных",
}

_STATE_TITLES = {
    ConsentState.pending: "ожидает подписания",
    ConsentState.in_signing: "подписывается",
    ConsentState.signed: "подписано",
    ConsentState.declined: "отказ от онлайн-подписания",
    ConsentState.cancelled: "отменено",
}

_OPEN = frozenset({ConsentState.pending, ConsentState.in_signing})


@dataclass
class Consent:
    kind: ConsentKind
    signing_method: SigningMethod
    state: ConsentState = ConsentState.pending

    @property
    def is_open(self) -> bool:
        """Still waiting for something: a signature, or a decision."""
        return self.state in _OPEN

    def choose_paper(self) -> None:
        allowed = self.signing_method is SigningMethod.electronic and self.is_open
        self._require(allowed, SigningMethod.paper)
        if self.state is ConsentState.in_signing:
            self.state = ConsentState.declined
        self.signing_method = SigningMethod.paper

    def start_signing(self) -> None:
        allowed = self.signing_method is SigningMethod.electronic
        self._require(allowed and self.state is ConsentState.pending, ConsentState.in_signing)
        self.state = ConsentState.in_signing

    def mark_signed(self) -> None:
        self._require(self.state is ConsentState.in_signing, ConsentState.signed)
        self.state = ConsentState.signed

    def mark_declined(self) -> None:
        self._require(self.is_open, ConsentState.declined)
        self.state = ConsentState.declined

    def abort_signing(self) -> None:
        """The signing transaction ended without a signature; the consent may be tried again."""
        self._require(self.state is ConsentState.in_signing, ConsentState.pending)
        self.state = ConsentState.pending

    def reopen(self) -> None:
        """The patient refused online signing; the doctor sends it again or moves it to paper
        (``domain.follow_up``): the consent waits again, still electronic."""
        allowed = self.signing_method is SigningMethod.electronic
        self._require(allowed and self.state is ConsentState.declined, ConsentState.pending)
        self.state = ConsentState.pending

    def cancel(self) -> None:
        self._require(self.is_open, ConsentState.cancelled)
        self.state = ConsentState.cancelled

    def _require(self, allowed: bool, target: ConsentState | SigningMethod) -> None:
        if allowed:
            return
        raise InvalidTransition(
            f"«{self.kind.title}» ({self.signing_method.title}, {self.state.title}): "
            f"нельзя перевести в «{target.title}».",
            current=self.state,
            target=target,
        )


def electronic_consents(consents: Iterable[Consent]) -> list[Consent]:
    """Consents still waiting to be signed online."""
    return [
        c
        for c in consents
        if c.signing_method is SigningMethod.electronic and c.state is ConsentState.pending
    ]


def validate_consent_set(consents: Iterable[Consent]) -> None:
    """One appointment needs each kind of document at most once."""
    counts = Counter(c.kind for c in consents)
    duplicates = [kind for kind, n in counts.items() if n > 1]
    if duplicates:
        titles = ", ".join(f"«{kind.title}»" for kind in duplicates)
        raise DomainError(
            "duplicate_consent_kind",
            f"Документ указан в записи на приём больше одного раза: {titles}.",
            "consents",
        )
