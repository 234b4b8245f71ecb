"""Each row of the reconciliation's decision table (docs/reconcile.md)."""

from __future__ import annotations

import pytest

from medsign.domain.reconciliation import (
    Action,
    Ending,
    Local,
    Outcome,
    Platform,
    PlatformAnswer,
    decide,
    needs_platform,
    platform_ending,
)
from medsign.domain.signing import SigningState

S = SigningState
P = PlatformAnswer
ACTIVE = Platform(P.active, ("wip_client",))


def sent(state: SigningState = S.sent) -> Local:
    return Local(state, "tx-1")


def test_new_with_its_transaction_in_the_journal_records_it_and_polls() -> None:
    local = Local(S.new, send_recorded=True, journal_transaction_id="tx-1")
    decision = decide(local, ACTIVE)
    assert decision.outcome is Outcome.resumed
    assert decision.actions == (Action.record_transaction,)
    assert "без повторной отправки" in decision.reason


def test_new_with_a_recorded_send_and_no_journal_resends_on_the_same_key() -> None:
    local = Local(S.new, send_recorded=True)
    assert not needs_platform(local)
    decision = decide(local, None)
    assert (decision.outcome, decision.actions) == (Outcome.resumed, ())
    assert "тем же ключом" in decision.reason


@pytest.mark.parametrize("state", [S.sent, S.patient_signed, S.archive_verified,
                                   S.countersigned, S.uploaded])
def test_an_open_request_the_platform_still_runs_is_resumed_where_it_was(
        state: SigningState) -> None:
    decision = decide(sent(state), Platform(P.active, ("wip_partner",)))
    assert (decision.outcome, decision.actions) == (Outcome.resumed, ())
    assert state.title in decision.reason


def test_an_unknown_step_status_is_resumed_as_the_flow_would_keep_polling() -> None:
    decision = decide(sent(), Platform(P.active, ("something_new",)))
    assert decision.outcome is Outcome.resumed


@pytest.mark.parametrize("state", [S.sent, S.patient_signed, S.countersigned])
def test_an_mo_upload_the_database_lost_goes_to_an_operator_and_stops(
        state: SigningState) -> None:
    decision = decide(sent(state), Platform(P.active, ("done",)))
    assert (decision.outcome, decision.actions) == (Outcome.operator, (Action.stop,))
    assert "Подпись МО уже передана" in decision.reason


@pytest.mark.parametrize(("platform", "action"), [
    (Platform(P.cancelled), Action.settle_refused),
    (Platform(P.cancelled, reason="expired"), Action.settle_expired),
    (Platform(P.error), Action.settle_platform_error),
])
def test_a_platform_ending_is_settled_as_the_poll_would(platform: Platform,
                                                        action: Action) -> None:
    decision = decide(sent(), platform)
    assert (decision.outcome, decision.actions) == (Outcome.settled, (action,))


def test_a_new_request_whose_transaction_ended_records_it_then_settles() -> None:
    local = Local(S.new, journal_transaction_id="tx-1")
    decision = decide(local, Platform(P.cancelled))
    assert decision.outcome is Outcome.settled
    assert decision.actions == (Action.record_transaction, Action.settle_refused)


@pytest.mark.parametrize("state", [S.patient_signed, S.archive_verified, S.uploaded])
def test_a_platform_ending_after_the_patient_signed_goes_to_an_operator(
        state: SigningState) -> None:
    decision = decide(sent(state), Platform(P.cancelled))
    assert (decision.outcome, decision.actions) == (Outcome.operator, (Action.stop,))


@pytest.mark.parametrize("state", [S.sent, S.patient_signed, S.archive_verified])
def test_finished_after_the_backup_without_local_evidence_is_fetched_and_signed_again(
        state: SigningState) -> None:
    decision = decide(sent(state), Platform(P.finished))
    assert (decision.outcome, decision.actions) == (Outcome.resumed, (Action.recover,))
    assert "получен заново" in decision.reason and "остановится" in decision.reason


def test_a_recovery_an_earlier_run_began_is_left_to_go_on() -> None:
    local = Local(S.sent, "tx-1", recovering=True)
    decision = decide(local, Platform(P.finished))
    assert (decision.outcome, decision.actions) == (Outcome.resumed, ())


def test_finished_with_the_mo_signature_the_database_has_is_completed_without_upload(
        ) -> None:
    decision = decide(sent(S.countersigned), Platform(P.finished))
    assert (decision.outcome, decision.actions) == (Outcome.settled,
                                                    (Action.settle_recovered,))


def test_finished_with_the_mo_signature_uploaded_is_settled_as_completed() -> None:
    decision = decide(sent(S.uploaded), Platform(P.finished))
    assert (decision.outcome, decision.actions) == (Outcome.settled,
                                                    (Action.settle_completed,))


def test_a_new_request_whose_transaction_finished_records_it_and_recovers() -> None:
    decision = decide(Local(S.new, journal_transaction_id="tx-1"), Platform(P.finished))
    assert decision.outcome is Outcome.resumed
    assert decision.actions == (Action.record_transaction, Action.recover)


@pytest.mark.parametrize("local", [sent(), Local(S.new, journal_transaction_id="tx-1")])
def test_a_transaction_the_platform_does_not_know_stops_for_an_operator(local: Local) -> None:
    decision = decide(local, Platform(P.not_found))
    assert (decision.outcome, decision.actions) == (Outcome.operator, (Action.stop,))
    assert "не знает" in decision.reason


@pytest.mark.parametrize("answer", [P.active, P.finished, P.cancelled, P.not_found])
def test_a_journal_transaction_unknown_to_the_database_goes_to_an_operator(
        answer: PlatformAnswer) -> None:
    local = Local(None, journal_transaction_id="tx-1")
    assert needs_platform(local)
    decision = decide(local, Platform(answer))
    assert (decision.outcome, decision.actions) == (Outcome.operator, ())
    assert "после резервной копии" in decision.reason and answer.title in decision.reason


def test_a_send_the_journal_began_but_never_confirmed_goes_to_an_operator() -> None:
    """A request started after the backup whose process died between the platform's answer
    and the journal's second line: no number to ask about, and no way to know."""
    local = Local(None)
    decision = decide(local, None)
    assert (decision.outcome, decision.actions) == (Outcome.operator, ())
    assert "неизвестно" in decision.reason and "кабинете партнёра" in decision.reason


@pytest.mark.parametrize("local", [sent(), Local(None), Local(S.new, journal_transaction_id="t")])
def test_an_unreachable_platform_changes_nothing(local: Local) -> None:
    decision = decide(local, Platform(P.unreachable))
    assert (decision.outcome, decision.actions) == (Outcome.unreachable, ())


@pytest.mark.parametrize("state", [S.failed, S.signer_mismatch])
def test_a_stopped_request_stays_with_the_operator_unchanged(state: SigningState) -> None:
    decision = decide(sent(state), Platform(P.finished))
    assert (decision.outcome, decision.actions) == (Outcome.operator, ())


def test_a_request_already_ended_is_left_alone() -> None:
    decision = decide(sent(S.completed), Platform(P.finished))
    assert (decision.outcome, decision.actions) == (Outcome.settled, ())


@pytest.mark.parametrize(("status", "reason", "ending"), [
    ("active", None, None),
    ("cancelled", None, Ending.refused),
    ("cancelled", "refused", Ending.refused),
    ("cancelled", "expired", Ending.expired),
    ("error", None, Ending.platform_error),
    ("finished", None, Ending.platform_error),
    ("something_new", None, None),
])
def test_the_poll_steps_endings(status: str, reason: str | None, ending: Ending | None) -> None:
    assert platform_ending(status, reason) is ending
