"""What a move of a signing request means — the vocabulary of ``medsign.domain.signing``'s
events, kept apart from the state machine so that each stays small.

``SigningAction`` names every move for the audit log and the histories (a retry, each kind of
cancel, each step of the system); ``CancelledBy`` says whose decision a cancel was;
``PatientNotice`` is what the patient is told about a move, chosen by its action — never by
its reason, which may hold an operator's words.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType


class SigningAction(StrEnum):
    """What a move of a request means: the audit log's action, the history's words."""

    created = "signing.new"
    sent = "signing.sent"
    patient_signed = "signing.patient_signed"
    archive_verified = "signing.archive_verified"
    countersigned = "signing.countersigned"
    uploaded = "signing.uploaded"
    completed = "signing.completed"
    refused = "signing.refused"
    cancelled_by_operator = "signing.cancelled_by_operator"
    cancelled_by_clinic = "signing.cancelled_by_clinic"
    appointment_cancelled = "signing.appointment_cancelled"
    expired = "signing.expired"
    platform_error = "signing.platform_error"
    failed = "signing.failed"
    retried = "signing.retried"
    signer_mismatch = "signing.signer_mismatch"
    recovered = "signing.recovered"

    @property
    def title(self) -> str:  # type: ignore[override]  # Russian name, shadows str.title on purpose
        return ACTION_TITLES[self]


A = SigningAction

ACTION_TITLES: Mapping[SigningAction, str] = MappingProxyType(
    {
        A.created: "подписание начато",
        A.sent: "документы отправлены в Госключ",
        A.patient_signed: "пациент подписал документы",
        A.archive_verified: "подпись пациента проверена",
        A.countersigned: "подписано со стороны МО",
        A.uploaded: "подпись МО передана на платформу",
        A.completed: "подписание завершено",
        A.refused: "пациент отказался",
        A.cancelled_by_operator: "отменено оператором",
        A.cancelled_by_clinic: "отменено клиникой (МИС)",
        A.appointment_cancelled: "запись на приём отменена",
        A.expired: "срок подписания истёк",
        A.platform_error: "ошибка платформы подписания",
        A.failed: "техническая ошибка",
        A.retried: "повтор",
        A.signer_mismatch: "подписант не совпадает с пациентом",
        A.recovered: "завершено по ответу платформы после восстановления из копии",
    }
)


class CancelledBy(StrEnum):
    """Who stopped a request: each is its own action, and the patient is told differently."""

    patient = "patient"  # refused in Goskey
    operator = "operator"  # an operator in the console
    clinic = "clinic"  # the clinic's МИС through the API
    appointment = "appointment"  # the visit itself was cancelled


CANCEL_ACTIONS: Mapping[CancelledBy, SigningAction] = MappingProxyType(
    {
        CancelledBy.patient: A.refused,
        CancelledBy.operator: A.cancelled_by_operator,
        CancelledBy.clinic: A.cancelled_by_clinic,
        CancelledBy.appointment: A.appointment_cancelled,
    }
)


class PatientNotice(StrEnum):
    """What the patient is told in MAX after a move: chosen by the kind of event, never by
    pasting its reason (an operator's words and logins stay in the history)."""

    documents_sent = "documents_sent"
    signed = "signed"
    refused = "refused"
    cancelled_by_clinic = "cancelled_by_clinic"
    appointment_cancelled = "appointment_cancelled"
    expired = "expired"
    platform_error = "platform_error"
    technical_failure = "technical_failure"
    signer_mismatch = "signer_mismatch"
    stopped = "stopped"  # any other end: says nothing about why


NOTICES: Mapping[str, PatientNotice] = MappingProxyType(
    {
        A.sent: PatientNotice.documents_sent,
        A.completed: PatientNotice.signed,
        A.refused: PatientNotice.refused,
        A.cancelled_by_operator: PatientNotice.cancelled_by_clinic,
        A.cancelled_by_clinic: PatientNotice.cancelled_by_clinic,
        A.appointment_cancelled: PatientNotice.appointment_cancelled,
        A.expired: PatientNotice.expired,
        A.platform_error: PatientNotice.platform_error,
        A.failed: PatientNotice.technical_failure,
        A.signer_mismatch: PatientNotice.signer_mismatch,
    }
)
