"""Appointments pushed by the МИС, with the consents they need."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from medsign.domain._checks import require_aware, require_text
from medsign.domain.consents import Consent, ConsentKind, electronic_consents, validate_consent_set
from medsign.domain.errors import DomainError, InvalidTransition


class AppointmentStatus(StrEnum):
    scheduled = "scheduled"
    cancelled = "cancelled"

    @property
    def title(self) -> str:  # type: ignore[override]  # Russian name, shadows str.title on purpose
        return "запланирован" if self is AppointmentStatus.scheduled else "отменён"


@dataclass
class Appointment:
    external_id: str
    organization_code: str
    patient_external_id: str
    starts_at: datetime
    doctor_name: str
    service_name: str
    status: AppointmentStatus = AppointmentStatus.scheduled
    consents: list[Consent] = field(default_factory=list)
    reschedule_count: int = 0

    def __post_init__(self) -> None:
        require_text(self.external_id, "external_id", "Идентификатор записи")
        require_text(self.organization_code, "organization_code", "Код МО")
        require_text(self.patient_external_id, "patient_external_id", "Идентификатор пациента")
        require_text(self.doctor_name, "doctor_name", "Врач")
        require_text(self.service_name, "service_name", "Услуга")
        require_aware(self.starts_at, "starts_at")
        validate_consent_set(self.consents)

    @property
    def is_cancelled(self) -> bool:
        return self.status is AppointmentStatus.cancelled

    @property
    def needs_online_signing(self) -> bool:
        """Worth inviting the patient: scheduled, with something to sign online."""
        return not self.is_cancelled and bool(electronic_consents(self.consents))

    def reschedule(self, new_start: datetime) -> bool:
        """Move the appointment; True when the moment actually changed.

        The same instant written in another time zone is not a change, so the
        notification timer is not reset by a МИС that resends in UTC.
        """
        self._require_scheduled("перенести")
        require_aware(new_start, "starts_at")
        if new_start == self.starts_at:
            return False
        self.starts_at = new_start
        self.reschedule_count += 1
        return True

    def cancel(self) -> None:
        """Cancel the visit and every consent still waiting for it."""
        self._require_scheduled("отменить")
        self.status = AppointmentStatus.cancelled
        for consent in self.consents:
            if consent.is_open:
                consent.cancel()

    def consent_for(self, kind: ConsentKind) -> Consent:
        for consent in self.consents:
            if consent.kind is kind:
                return consent
        raise DomainError(
            "consent_not_found",
            f"В записи на приём нет документа «{kind.title}».",
            "consents",
        )

    def _require_scheduled(self, verb: str) -> None:
        if self.is_cancelled:
            raise InvalidTransition(
                f"Запись на приём {self.external_id} отменена, её нельзя {verb}.",
                current=self.status,
            )
