"""The signing transaction (DESIGN.md §2, flow C) as a pure state machine.

The happy path, one step per call to the partner platform::

    new ─▶ sent ─▶ patient_signed ─▶ archive_verified ─▶ countersigned ─▶ uploaded ─▶ completed
            │                                 │
            ├─▶ expired                        └─▶ signer_mismatch ─▶ cancelled
            └─▶ platform_error   (the platform reported status "error")

    any active state ─▶ cancelled | failed
    failed ─retry()─▶ the state it failed from;  failed ─▶ cancelled

``ALLOWED`` is the single source of truth for these arrows: every method
checks it before moving, and records a ``SigningEvent`` in ``events`` for the
persistence layer to store (and drain) in the same database transaction.

Each event also says *what happened* (``SigningAction``), which the state alone
cannot: ``cancelled`` is a patient's refusal, an operator's or the clinic's
decision or the visit's cancellation; ``failed -> patient_signed`` is an
operator's retry, not the patient signing again. The audit log, the history
pages and the patient's messages all read the action, never re-derive it.
``failed`` is not final, since an operator may retry, but it is *stopped*:
no worker picks it up until someone does. ``signer_mismatch`` is stopped too: the
signed documents name someone other than the patient (a relative's phone, a typo in the
МИС), so the MO must not counter-sign; there is nothing to retry — the same archive would
name the same person — and the only way out is an operator's cancel.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from medsign.domain._checks import require_text
from medsign.domain.consents import ConsentKind
from medsign.domain.errors import DomainError, InvalidTransition
from medsign.domain.phones import normalize_phone
from medsign.domain.signer_check import SignerMismatch
from medsign.domain.signing_actions import CANCEL_ACTIONS, NOTICES

# Re-exported: callers name the events' vocabulary with the state machine's.
from medsign.domain.signing_actions import CancelledBy as CancelledBy
from medsign.domain.signing_actions import PatientNotice as PatientNotice
from medsign.domain.signing_actions import SigningAction as SigningAction


class SigningState(StrEnum):
    new = "new"
    sent = "sent"
    patient_signed = "patient_signed"
    archive_verified = "archive_verified"
    countersigned = "countersigned"
    uploaded = "uploaded"
    completed = "completed"
    cancelled = "cancelled"
    expired = "expired"
    platform_error = "platform_error"
    failed = "failed"
    signer_mismatch = "signer_mismatch"

    @property
    def title(self) -> str:  # type: ignore[override]  # Russian name, shadows str.title on purpose
        return STATE_TITLES[self]

    @property
    def reason_label(self) -> str:
        """How staff pages label the request's reason: only a failure's reason is an error."""
        return {"failed": "Причина ошибки", "cancelled": "Причина отмены"}.get(self.value,
                                                                             "Причина")

    @property
    def patient_title(self) -> str:
        """The state as the patient reads it on the portal: plain words, nothing internal (a
        state not named here — a newer one — reads as a stop)."""
        return _PATIENT_STATE_TITLES.get(self, "онлайн-подписание остановлено")


S = SigningState
A = SigningAction

_PATIENT_STATE_TITLES: Mapping[SigningState, str] = MappingProxyType(
    {
        S.new: "готовим документы к подписанию",
        S.sent: "ждёт вашей подписи в Госключе",
        S.patient_signed: "подписано вами, клиника оформляет документы",
        S.archive_verified: "подписано вами, клиника оформляет документы",
        S.countersigned: "подписано вами, клиника оформляет документы",
        S.uploaded: "подписано вами, клиника оформляет документы",
        S.completed: "подписано",
        S.cancelled: "онлайн-подписание отменено",
        S.expired: "срок онлайн-подписания истёк",
        S.platform_error: "онлайн-подписание не состоялось",
        S.failed: "онлайн-подписание не удалось завершить",
    }
)

STATE_TITLES: Mapping[SigningState, str] = MappingProxyType(
    {
        S.new: "готовится к отправке",
        S.sent: "ожидает подписи пациента",
        S.patient_signed: "подписано пациентом, получение архива",
        S.archive_verified: "подпись пациента проверена",
        S.countersigned: "подписано со стороны МО",
        S.uploaded: "подпись МО передана на платформу",
        S.completed: "подписано",
        S.cancelled: "отменено",
        S.expired: "срок подписания истёк",
        S.platform_error: "ошибка платформы подписания",
        S.failed: "ошибка",
        S.signer_mismatch: "подписант не совпадает с пациентом",
    }
)

FINAL_STATES: frozenset[SigningState] = frozenset(
    {S.completed, S.cancelled, S.expired, S.platform_error}
)
STOPPED_STATES: frozenset[SigningState] = FINAL_STATES | {S.failed, S.signer_mismatch}
# States that hold the appointment: at most one request per appointment may be in one of them
# (the service refuses a second, a partial unique index backs it). ``failed`` counts: an operator
# may still retry it, so a second request beside it could sign the same documents twice.
OPEN_STATES: frozenset[SigningState] = frozenset(SigningState) - FINAL_STATES
# States a worker moves forward; a failure can only happen in one of them,
# so they are also where a retry can return to.
ACTIVE_STATES: frozenset[SigningState] = frozenset(SigningState) - STOPPED_STATES

_FORWARD: dict[SigningState, frozenset[SigningState]] = {
    S.new: frozenset({S.sent}),
    S.sent: frozenset({S.patient_signed, S.expired, S.platform_error}),
    S.patient_signed: frozenset({S.archive_verified}),
    S.archive_verified: frozenset({S.countersigned, S.signer_mismatch}),
    S.countersigned: frozenset({S.uploaded}),
    S.uploaded: frozenset({S.completed}),
}

ALLOWED: Mapping[SigningState, frozenset[SigningState]] = MappingProxyType(
    {
        **{state: _FORWARD[state] | {S.cancelled, S.failed} for state in ACTIVE_STATES},
        # Any active state is listed, but retry() narrows it to failed_from.
        S.failed: ACTIVE_STATES | {S.cancelled},
        S.signer_mismatch: frozenset({S.cancelled}),
        **{state: frozenset() for state in FINAL_STATES},
    }
)

INITIATORS = frozenset({"patient", "doctor", "mis"})

# What must already be known once a transaction has reached a state: rebuilding
# a request from storage with a state but without its data is a bug upstream.
_NEEDS_ZIP = frozenset({S.patient_signed, S.archive_verified, S.countersigned, S.uploaded,
                        S.signer_mismatch})
_NEEDS_TRANSACTION = _NEEDS_ZIP | {S.sent, S.expired, S.platform_error, S.completed}


_ACTION_VALUES = frozenset(a.value for a in SigningAction)
_STATE_VALUES = frozenset(s.value for s in SigningState)


OPERATOR_REASON_MIN, OPERATOR_REASON_MAX = 3, 1000


def operator_reason(raw: str, label: str) -> str:
    """Why an operator retries or cancels, as it goes into the history: required, trimmed,
    from ``OPERATOR_REASON_MIN`` to ``OPERATOR_REASON_MAX`` characters; spaces alone are no
    answer. Raises ``DomainError`` on ``reason`` with a message naming the field."""
    text = raw.strip()
    if not text:
        raise DomainError("reason_required", f"Поле «{label}» не заполнено: напишите, "
                          "почему вы это делаете (одни пробелы не считаются).", "reason")
    if len(text) < OPERATOR_REASON_MIN:
        raise DomainError("reason_too_short", f"{label} слишком короткая: напишите хотя бы "
                          f"{OPERATOR_REASON_MIN} символа.", "reason")
    if len(text) > OPERATOR_REASON_MAX:
        raise DomainError("reason_too_long", f"{label} длиннее {OPERATOR_REASON_MAX} "
                          f"символов (сейчас {len(text)}): сократите её.", "reason")
    return text


def action_title(action: str, to_state: str | None = None) -> str:
    """Words for a stored action; one this version does not know (a newer state's, or a row
    written before actions were recorded) reads as the state it led to."""
    if action in _ACTION_VALUES:
        return SigningAction(action).title
    if to_state in _STATE_VALUES:
        return SigningState(to_state).title
    return action


@dataclass(frozen=True)
class SigningEvent:
    """One move of a request, waiting to be stored; ``details`` hold what the step learned.

    ``action`` defaults to ``signing.<to_state>``: a plain step forward, named by its state."""

    from_state: SigningState
    to_state: SigningState
    reason: str | None = None
    details: dict[str, object] = field(default_factory=dict, hash=False)
    action: str = ""

    def __post_init__(self) -> None:
        if not self.action:
            object.__setattr__(self, "action", f"signing.{self.to_state.value}")

    @property
    def title(self) -> str:
        return action_title(self.action, self.to_state.value)


def patient_notice(event: SigningEvent) -> PatientNotice | None:
    """The message an event owes the patient, if any: the documents reaching Госключ, and
    every stop (one this version does not name gets the generic one)."""
    notice = NOTICES.get(event.action)
    if notice is None and event.to_state in STOPPED_STATES:
        return PatientNotice.stopped
    return notice


@dataclass
class SigningRequest:
    id: str
    appointment_external_id: str
    organization_code: str
    consent_kinds: list[ConsentKind]
    phone: str
    initiated_by: str
    state: SigningState = SigningState.new
    transaction_id: str | None = None
    zip_file_id: str | None = None
    uploaded_file_ids: list[str] = field(default_factory=list)
    completion_file_id: str | None = None
    failed_from: SigningState | None = None
    reason: str | None = None
    events: list[SigningEvent] = field(default_factory=list, compare=False, repr=False)

    def __post_init__(self) -> None:
        require_text(self.id, "id", "Идентификатор транзакции")
        require_text(self.appointment_external_id, "appointment_external_id", "Запись на приём")
        require_text(self.organization_code, "organization_code", "Код МО")
        self._check_consent_kinds()
        self._check_initiator()
        if normalize_phone(self.phone) != self.phone:
            raise DomainError("invalid_phone", "Телефон должен быть в виде +7XXXXXXXXXX.", "phone")
        self._check_state_data()

    # --- queries -------------------------------------------------------------

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_STATES

    @property
    def is_stopped(self) -> bool:
        return self.state in STOPPED_STATES

    def can_transition(self, to: SigningState) -> bool:
        """Whether ``ALLOWED`` permits ``to`` now; from failed, only failed_from (by retry)."""
        if to not in ALLOWED[self.state]:
            return False
        if self.state is S.failed and to is not S.cancelled:
            return to is self.failed_from
        return True

    # --- the happy path --------------------------------------------------------

    def mark_sent(self, transaction_id: str) -> None:
        require_text(transaction_id, "transaction_id", "Идентификатор транзакции платформы")
        self._move(S.sent, transaction_id=transaction_id)
        self.transaction_id = transaction_id

    def mark_patient_signed(self, zip_file_id: str) -> None:
        require_text(zip_file_id, "zip_file_id", "Идентификатор архива")
        self._move(S.patient_signed, zip_file_id=zip_file_id)
        self.zip_file_id = zip_file_id

    def mark_archive_verified(self) -> None:
        self._move(S.archive_verified)

    def mark_countersigned(self) -> None:
        self._move(S.countersigned)

    def stop_signer_mismatch(self, mismatch: SignerMismatch) -> None:
        """The documents name someone else: stop before the MO signs; the event keeps both
        identities (as read from the platform's XML and from the patient record)."""
        self._move(S.signer_mismatch, reason=mismatch.reason, action=A.signer_mismatch,
                   signer_mismatch=mismatch.to_json())

    def mark_uploaded(self, file_ids: list[str]) -> None:
        if not file_ids or not all(fid.strip() for fid in file_ids):
            raise DomainError(
                "required", "Платформа не вернула идентификаторы загруженных файлов.", "file_ids"
            )
        self._move(S.uploaded, file_ids=list(file_ids))
        self.uploaded_file_ids = list(file_ids)

    def mark_completed(self, file_id: str | None = None) -> None:
        self._move(S.completed, file_id=file_id)
        self.completion_file_id = file_id

    def complete_after_restore(self, reason: str) -> None:
        """The platform completed this transaction while the database came back from an
        older copy: the MO's signature reached the platform before the data were lost. The
        request is completed from ``countersigned`` without a second upload (the platform
        keeps the signature it received; ``reason`` says what the evidence here holds). No
        message to the patient: the platform's completion was theirs already."""
        require_text(reason, "reason", "Причина")
        self._move(S.uploaded, reason=reason, action=A.recovered, file_ids=[])
        self._move(S.completed, reason=reason, action=A.recovered)

    # --- the other endings -------------------------------------------------------

    def cancel(self, reason: str, *, by: CancelledBy) -> None:
        """Stop the request; ``by`` says whose decision it was (the reason stays for staff)."""
        require_text(reason, "reason", "Причина отмены")
        self._move(S.cancelled, reason=reason, action=CANCEL_ACTIONS[by])

    def expire(self, *, on_platform: bool = False) -> None:
        why = ("Срок подписания на платформе истёк." if on_platform
               else "Пациент не подписал документы в отведённый срок.")
        self._move(S.expired, reason=why, action=A.expired)

    def mark_platform_error(self, message: str) -> None:
        self._move(S.platform_error, reason=message or "Платформа подписания сообщила об ошибке.",
                   action=A.platform_error)

    def fail(self, reason: str) -> None:
        require_text(reason, "reason", "Причина ошибки")
        failed_from = self.state
        self._move(S.failed, reason=reason, action=A.failed)
        self.failed_from = failed_from

    def retry(self, reason: str | None = None) -> None:
        """An operator's retry: resume from the step that failed (``reason``, why the operator
        retries, goes into the history; the request's own reason is cleared)."""
        if self.state is S.signer_mismatch:
            raise self._refusal(None, "подписант не совпадает с пациентом, повтор подписал бы "
                                      "документы того же человека; отмените транзакцию")
        if self.state is not S.failed or self.failed_from is None:
            raise self._refusal(None, "повторить можно только транзакцию в состоянии «ошибка»")
        self._move(self.failed_from, resuming=True, reason=reason, action=A.retried)
        self.failed_from = None
        self.reason = None

    def drain_events(self) -> list[SigningEvent]:
        """Hand the recorded events over to the caller (the repository) and forget them."""
        drained, self.events = self.events, []
        return drained

    # --- internals --------------------------------------------------------------

    def _move(
        self,
        to: SigningState,
        *,
        reason: str | None = None,
        resuming: bool = False,
        action: SigningAction | None = None,
        **details: object,
    ) -> None:
        self._check_move(to, resuming)
        self.events.append(SigningEvent(self.state, to, reason, details,
                                        action.value if action else ""))
        if self.state is S.failed and to is S.cancelled:
            self.failed_from = None
        self.state = to
        if reason is not None:
            self.reason = reason

    def _check_move(self, to: SigningState, resuming: bool) -> None:
        if not self.can_transition(to):
            raise self._refusal(to, "такой переход не предусмотрен")
        # failed -> failed_from is in the table, but only an operator's retry may
        # take it: a late worker step must not silently resume a stopped request.
        if self.state is S.failed and to is not S.cancelled and not resuming:
            raise self._refusal(to, "после ошибки продолжить можно только повтором")

    def _refusal(self, to: SigningState | None, why: str) -> InvalidTransition:
        move = f"перейти из состояния «{self.state.title}»" + (f" в «{to.title}»" if to else "")
        return InvalidTransition(
            f"Транзакция подписания {self.id}: нельзя {move} — {why}.",
            current=self.state,
            target=to,
        )

    def _check_consent_kinds(self) -> None:
        if not self.consent_kinds or len(set(self.consent_kinds)) != len(self.consent_kinds):
            raise DomainError(
                "invalid_consent_kinds",
                "Транзакция подписания должна включать хотя бы один документ, без повторов.",
                "consent_kinds",
            )

    def _check_initiator(self) -> None:
        if self.initiated_by not in INITIATORS:
            raise DomainError(
                "invalid_initiator",
                f"Неизвестный инициатор подписания «{self.initiated_by}»: "
                "ожидается patient, doctor или mis.",
                "initiated_by",
            )

    def _check_state_data(self) -> None:
        if (self.state is S.failed) != (self.failed_from is not None):
            raise DomainError(
                "inconsistent_state", "Причина остановки не соответствует состоянию.", "failed_from"
            )
        if self.failed_from is not None and self.failed_from not in ACTIVE_STATES:
            raise DomainError(
                "inconsistent_state",
                "Ошибка может возникнуть только на активном шаге.",
                "failed_from",
            )
        effective = self.failed_from or self.state
        if effective in _NEEDS_TRANSACTION and not self.transaction_id:
            raise DomainError(
                "inconsistent_state", "Нет идентификатора транзакции платформы.", "transaction_id"
            )
        if effective in _NEEDS_ZIP and not self.zip_file_id:
            raise DomainError("inconsistent_state", "Нет идентификатора архива.", "zip_file_id")
