"""The signing transaction state machine (DESIGN.md §2, flow C)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from functools import partial
from typing import Any

import pytest

from medsign.domain.consents import ConsentKind
from medsign.domain.errors import DomainError, InvalidTransition
from medsign.domain.signer_check import Identity, SignerMismatch
from medsign.domain.signing import (
    ALLOWED,
    FINAL_STATES,
    STATE_TITLES,
    STOPPED_STATES,
    CancelledBy,
    SigningEvent,
    SigningRequest,
    operator_reason,
)
from medsign.domain.signing import SigningState as S

ACTIVE = [S.new, S.sent, S.patient_signed, S.archive_verified, S.countersigned, S.uploaded]

# The specification, written out by hand: every pair not listed here must be refused.
EXPECTED_PAIRS = {
    (S.new, S.sent),
    (S.sent, S.patient_signed),
    (S.sent, S.expired),
    (S.sent, S.platform_error),
    (S.patient_signed, S.archive_verified),
    (S.archive_verified, S.countersigned),
    (S.archive_verified, S.signer_mismatch),
    (S.countersigned, S.uploaded),
    (S.uploaded, S.completed),
    *((state, S.cancelled) for state in ACTIVE),
    *((state, S.failed) for state in ACTIVE),
    (S.failed, S.cancelled),
    (S.signer_mismatch, S.cancelled),
    # (S.failed, <the state it failed from>) is added per case below.
}

MISMATCH = SignerMismatch(
    "ИДС", Identity("Иванова", "Мария", "Петровна", date(1985, 3, 14)),
    Identity("Иванов", "Иван", "Иванович", date(1980, 5, 17)),
    ("фамилия", "имя", "отчество", "дата рождения"))

# The public method that leads into each state (failed -> X is retry(), not these).
MOVES: dict[S, Callable[[SigningRequest], None]] = {
    S.sent: lambda r: r.mark_sent("tx-1"),
    S.patient_signed: lambda r: r.mark_patient_signed("zip-1"),
    S.archive_verified: lambda r: r.mark_archive_verified(),
    S.countersigned: lambda r: r.mark_countersigned(),
    S.uploaded: lambda r: r.mark_uploaded(["f-1", "f-2"]),
    S.completed: lambda r: r.mark_completed("final-1"),
    S.cancelled: lambda r: r.cancel("Пациент отказался", by=CancelledBy.patient),
    S.expired: lambda r: r.expire(),
    S.platform_error: lambda r: r.mark_platform_error("status error"),
    S.failed: lambda r: r.fail("Сертификат оператора недействителен"),
    S.signer_mismatch: lambda r: r.stop_signer_mismatch(MISMATCH),
}


def request(state: S = S.new, failed_from: S | None = None, **overrides: Any) -> SigningRequest:
    """A request rebuilt in ``state``, with the data that state implies."""
    reached = failed_from or state
    fields: dict[str, Any] = {
        "id": "sr-1",
        "appointment_external_id": "a-1",
        "organization_code": "mo-1",
        "consent_kinds": [ConsentKind.medical_intervention, ConsentKind.personal_data],
        "phone": "+79991234567",
        "initiated_by": "patient",
        "state": state,
        "failed_from": failed_from,
        "transaction_id": None if reached in (S.new, S.cancelled) else "tx-1",
        "zip_file_id": "zip-1" if reached in (*ACTIVE[2:], S.completed, S.signer_mismatch)
        else None,
    }
    return SigningRequest(**{**fields, **overrides})


Build = Callable[[], SigningRequest]


def every_request() -> list[Build]:
    """Builders of one request in each state, and of a failed one for every step it can
    fail at (builders, not requests: each test case must get a fresh object)."""
    plain: list[Build] = [partial(request, state) for state in S if state is not S.failed]
    return plain + [partial(request, S.failed, failed_from=origin) for origin in ACTIVE]


def expected(r: SigningRequest, to: S) -> bool:
    return (r.state, to) in EXPECTED_PAIRS or (r.state is S.failed and to is r.failed_from)


def case_id(build: Build) -> str:
    r = build()
    return f"{r.state}<-{r.failed_from}" if r.failed_from else str(r.state)


# --- the table -----------------------------------------------------------------------------


@pytest.mark.parametrize("build", every_request(), ids=case_id)
def test_exactly_the_specified_transitions_are_allowed_from_every_state(build: Build) -> None:
    r = build()
    allowed = {to for to in S if r.can_transition(to)}
    assert allowed == {to for to in S if expected(r, to)}


@pytest.mark.parametrize("build", every_request(), ids=case_id)
@pytest.mark.parametrize("to", list(MOVES), ids=str)
def test_each_method_succeeds_exactly_when_its_transition_is_allowed(build: Build, to: S) -> None:
    r = build()
    before = r.state
    if (before, to) in EXPECTED_PAIRS:
        MOVES[to](r)
        assert r.state is to
        assert r.events[-1].from_state is before and r.events[-1].to_state is to
    else:
        with pytest.raises(InvalidTransition) as caught:
            MOVES[to](r)
        assert (r.state, r.events) == (before, [])
        assert (caught.value.current, caught.value.target) == (before, to)


def test_the_table_lists_every_state_and_nothing_leaves_a_final_state() -> None:
    assert set(ALLOWED) == set(S)
    assert all(ALLOWED[state] == frozenset() for state in FINAL_STATES)


def test_final_and_stopped_states() -> None:
    assert {S.completed, S.cancelled, S.expired, S.platform_error} == FINAL_STATES
    assert FINAL_STATES | {S.failed, S.signer_mismatch} == STOPPED_STATES
    assert not request(S.signer_mismatch).is_final
    assert request(S.signer_mismatch).is_stopped
    assert not request(S.failed, failed_from=S.sent).is_final
    assert request(S.failed, failed_from=S.sent).is_stopped


def test_every_state_has_a_russian_title() -> None:
    assert set(STATE_TITLES) == set(S)
    assert (S.completed.title, S.sent.title, S.failed.title) == (
        "подписано",
        "ожидает подписи пациента",
        "ошибка",
    )


# --- the journey ---------------------------------------------------------------------------


def test_the_happy_path_records_the_platforms_ids_and_one_event_per_step() -> None:
    r = request()
    r.mark_sent("tx-42")
    r.mark_patient_signed("zip-42")
    r.mark_archive_verified()
    r.mark_countersigned()
    r.mark_uploaded(["sig-1"])
    r.mark_completed("final-42")
    assert (r.state, r.transaction_id, r.zip_file_id) == (S.completed, "tx-42", "zip-42")
    assert (r.uploaded_file_ids, r.completion_file_id) == (["sig-1"], "final-42")
    assert [e.to_state for e in r.events] == [
        S.sent,
        S.patient_signed,
        S.archive_verified,
        S.countersigned,
        S.uploaded,
        S.completed,
    ]
    assert r.events[0] == SigningEvent(S.new, S.sent, None, {"transaction_id": "tx-42"})


def test_a_failure_remembers_its_step_and_a_retry_resumes_there() -> None:
    r = request(S.patient_signed)
    r.fail("Архив повреждён")
    assert (r.state, r.failed_from, r.reason) == (S.failed, S.patient_signed, "Архив повреждён")
    r.retry()
    assert (r.state, r.failed_from, r.reason) == (S.patient_signed, None, None)
    assert [(e.from_state, e.to_state) for e in r.events] == [
        (S.patient_signed, S.failed),
        (S.failed, S.patient_signed),
    ]
    assert r.events[0].reason == "Архив повреждён"


@pytest.mark.parametrize("origin", ACTIVE, ids=str)
def test_a_late_worker_step_cannot_resume_a_failed_transaction(origin: S) -> None:
    r = request(S.failed, failed_from=origin)
    assert r.can_transition(origin)  # only through retry():
    for to in MOVES:
        if to is not S.cancelled:
            with pytest.raises(InvalidTransition):
                MOVES[to](r)
    assert r.state is S.failed


def test_only_a_failed_transaction_can_be_retried() -> None:
    with pytest.raises(InvalidTransition, match="«ошибка»"):
        request(S.sent).retry()


def test_a_signer_mismatch_stops_before_the_mo_signs_and_keeps_both_identities() -> None:
    r = request(S.archive_verified)
    r.stop_signer_mismatch(MISMATCH)
    assert r.state is S.signer_mismatch and r.is_stopped and not r.is_final
    event = r.events[-1]
    assert (event.from_state, event.to_state) == (S.archive_verified, S.signer_mismatch)
    assert SignerMismatch.from_json(event.details["signer_mismatch"]) == MISMATCH
    assert event.reason == r.reason
    assert r.reason is not None
    assert "Иванова Мария Петровна, 14.03.1985" in r.reason
    assert "Иванов Иван Иванович, 17.05.1980" in r.reason


def test_a_signer_mismatch_cannot_be_retried_or_countersigned_only_cancelled() -> None:
    r = request(S.signer_mismatch)
    with pytest.raises(InvalidTransition, match="не совпадает"):
        r.retry()
    with pytest.raises(InvalidTransition):
        r.mark_countersigned()
    assert r.state is S.signer_mismatch and r.events == []
    r.cancel("Телефон родственника, пациент подпишет на бумаге", by=CancelledBy.operator)
    assert r.state is S.cancelled


def test_an_operator_may_cancel_a_failed_transaction_instead() -> None:
    r = request(S.failed, failed_from=S.countersigned)
    r.cancel("Пациент подпишет на бумаге", by=CancelledBy.operator)
    assert (r.state, r.failed_from, r.reason) == (S.cancelled, None, "Пациент подпишет на бумаге")


def test_expiry_and_platform_errors_explain_themselves() -> None:
    expired, broken = request(S.sent), request(S.sent)
    expired.expire()
    broken.mark_platform_error("Внутренняя ошибка платформы")
    assert expired.reason is not None and "не подписал" in expired.reason
    assert broken.reason == "Внутренняя ошибка платформы"


def test_draining_events_hands_them_over_once() -> None:
    r = request()
    r.mark_sent("tx-1")
    assert len(r.drain_events()) == 1
    assert r.events == [] and r.drain_events() == []


@pytest.mark.parametrize(
    "move",
    [
        lambda r: r.mark_sent(" "),
        lambda r: r.cancel("", by=CancelledBy.operator),
        lambda r: r.fail(""),
    ],
)
def test_commands_need_their_data(move: Callable[[SigningRequest], None]) -> None:
    r = request()
    with pytest.raises(DomainError) as caught:
        move(r)
    assert caught.value.code == "required"
    assert (r.state, r.events) == (S.new, [])


def test_an_upload_needs_the_file_ids_the_platform_returned() -> None:
    with pytest.raises(DomainError):
        request(S.countersigned).mark_uploaded([])


# --- construction --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"initiated_by": "robot"}, "invalid_initiator"),
        ({"phone": "8 999 123-45-67"}, "invalid_phone"),
        ({"consent_kinds": []}, "invalid_consent_kinds"),
        ({"consent_kinds": [ConsentKind.personal_data] * 2}, "invalid_consent_kinds"),
        ({"id": ""}, "required"),
    ],
)
def test_a_request_is_checked_when_built(overrides: dict[str, Any], code: str) -> None:
    with pytest.raises(DomainError) as caught:
        request(**overrides)
    assert caught.value.code == code


@pytest.mark.parametrize(
    "overrides",
    [
        {"state": S.failed, "failed_from": None},
        {"state": S.sent, "failed_from": S.new},
        {"state": S.failed, "failed_from": S.completed, "transaction_id": "t", "zip_file_id": "z"},
        {"state": S.sent, "transaction_id": None},
        {"state": S.uploaded, "transaction_id": "t", "zip_file_id": None},
    ],
)
def test_a_request_rebuilt_with_inconsistent_data_is_refused(overrides: dict[str, Any]) -> None:
    base = {"transaction_id": "t", "zip_file_id": "z"} if "transaction_id" not in overrides else {}
    with pytest.raises(DomainError) as caught:
        SigningRequest(
            "sr",
            "a",
            "mo",
            [ConsentKind.personal_data],
            "+79991234567",
            "mis",
            **{**base, **overrides},
        )
    assert caught.value.code == "inconsistent_state"


def test_an_operators_reason_is_required_trimmed_and_bounded() -> None:
    assert operator_reason("  платформа снова доступна \n", "Причина повтора") == (
        "платформа снова доступна")
    for raw, code in (("", "reason_required"), (" \t\n ", "reason_required"),
                      (" ок ", "reason_too_short"), ("я" * 1001, "reason_too_long")):
        with pytest.raises(DomainError) as refused:
            operator_reason(raw, "Причина отмены")
        assert (refused.value.code, refused.value.field) == (code, "reason")
        assert "ричин" in refused.value.message
    assert operator_reason("я" * 1000, "Причина отмены") == "я" * 1000
