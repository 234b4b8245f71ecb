"""After online signing ended unsigned: when the doctor may send again or move to paper."""

from __future__ import annotations

import pytest

from medsign.domain.consents import Consent, ConsentKind, ConsentState, SigningMethod
from medsign.domain.errors import InvalidTransition
from medsign.domain.follow_up import FollowUp, follow_up_blocker
from medsign.domain.signing import SigningAction as A
from medsign.domain.signing import SigningState as S


@pytest.mark.parametrize("ending", [(S.cancelled, A.refused), (S.expired, A.expired)])
def test_a_refusal_or_an_expiry_allows_both(ending: tuple[S, A]) -> None:
    assert follow_up_blocker(ending[0], ending[1], waiting=True) is None


@pytest.mark.parametrize(("state", "action", "why"), [
    (None, None, "ещё не отправлялись"),
    (S.sent, A.sent, "подписание уже идёт"),
    (S.failed, A.failed, "подписание уже идёт"),  # a stopped request still holds the visit
    (S.completed, A.completed, "не отказом пациента"),
    (S.cancelled, A.cancelled_by_operator, "не отказом пациента"),
    (S.cancelled, A.appointment_cancelled, "не отказом пациента"),
    (S.platform_error, A.platform_error, "не отказом пациента"),
])
def test_other_ends_and_open_requests_allow_neither(state: S | None, action: A | None,
                                                     why: str) -> None:
    blocker = follow_up_blocker(state, action, waiting=True)
    assert blocker is not None and why in blocker


def test_nothing_waiting_allows_neither() -> None:
    blocker = follow_up_blocker(S.expired, A.expired, waiting=False)
    assert blocker == "нет документов, ожидающих электронного подписания"


def test_actions_read_in_russian() -> None:
    assert [a.title for a in FollowUp] == ["Отправить ещё раз", "На бумаге"]


def test_a_refused_document_waits_again_when_reopened() -> None:
    c = Consent(ConsentKind.medical_intervention, SigningMethod.electronic,
                ConsentState.declined)
    c.reopen()
    assert c.state is ConsentState.pending and c.signing_method is SigningMethod.electronic
    c.choose_paper()  # and may then go to paper, as «Подпишу в клинике» does
    assert c.signing_method is SigningMethod.paper


@pytest.mark.parametrize(("state", "method"), [
    (ConsentState.pending, SigningMethod.electronic),
    (ConsentState.signed, SigningMethod.electronic),
    (ConsentState.cancelled, SigningMethod.electronic),
    (ConsentState.declined, SigningMethod.paper),  # refused online, chose paper: stays so
])
def test_only_a_refused_electronic_document_reopens(state: ConsentState,
                                                    method: SigningMethod) -> None:
    with pytest.raises(InvalidTransition):
        Consent(ConsentKind.personal_data, method, state).reopen()
