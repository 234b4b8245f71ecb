"""Consents: which moves make sense for one document, and sets of them per appointment."""

from __future__ import annotations

import pytest

from medsign.domain.consents import (
    Consent,
    ConsentKind,
    ConsentState,
    SigningMethod,
    electronic_consents,
    validate_consent_set,
)
from medsign.domain.errors import DomainError, InvalidTransition

IDS = ConsentKind.medical_intervention
E, P = SigningMethod.electronic, SigningMethod.paper


def consent(
    state: ConsentState = ConsentState.pending, method: SigningMethod = E, kind: ConsentKind = IDS
) -> Consent:
    return Consent(kind, method, state)


def test_document_kinds_have_russian_titles() -> None:
    assert [k.title for k in ConsentKind] == [
        "ИДС на медицинское вмешательство",
        "Договор на оказание платных медицинских услуг",
        "Согласие на обработку персональных данных",
    ]


def test_the_values_are_the_stable_machine_names() -> None:
    assert [str(k) for k in ConsentKind] == [
        "medical_intervention",
        "paid_services_contract",
        "personal_data",
    ]
    assert [str(s) for s in ConsentState] == [
        "pending",
        "in_signing",
        "signed",
        "declined",
        "cancelled",
    ]


def test_a_new_consent_is_pending() -> None:
    assert Consent(IDS, E).state is ConsentState.pending


def test_an_electronic_consent_is_signed_through_a_signing_transaction() -> None:
    c = consent()
    c.start_signing()
    c.mark_signed()
    assert c.state is ConsentState.signed


def test_a_paper_consent_cannot_be_signed_online() -> None:
    with pytest.raises(InvalidTransition) as caught:
        consent(method=P).start_signing()
    assert caught.value.code == "invalid_transition"
    assert "на бумаге" in caught.value.message


def test_a_consent_is_signed_only_after_signing_started() -> None:
    with pytest.raises(InvalidTransition):
        consent().mark_signed()


def test_choosing_paper_before_signing_only_changes_the_method() -> None:
    c = consent()
    c.choose_paper()
    assert (c.signing_method, c.state) == (P, ConsentState.pending)
    assert electronic_consents([c]) == []


def test_choosing_paper_after_signing_started_declines_the_online_attempt() -> None:
    c = consent(ConsentState.in_signing)
    c.choose_paper()
    assert (c.signing_method, c.state) == (P, ConsentState.declined)


@pytest.mark.parametrize(
    "state", [ConsentState.signed, ConsentState.declined, ConsentState.cancelled]
)
def test_a_settled_consent_cannot_switch_to_paper(state: ConsentState) -> None:
    with pytest.raises(InvalidTransition):
        consent(state).choose_paper()


def test_choosing_paper_twice_is_a_mistake_the_caller_must_see() -> None:
    with pytest.raises(InvalidTransition):
        consent(method=P).choose_paper()


@pytest.mark.parametrize("state", [ConsentState.pending, ConsentState.in_signing])
def test_an_open_consent_can_be_declined_or_cancelled(state: ConsentState) -> None:
    declined, cancelled = consent(state), consent(state)
    declined.mark_declined()
    cancelled.cancel()
    assert (declined.state, cancelled.state) == (ConsentState.declined, ConsentState.cancelled)


@pytest.mark.parametrize(
    "state", [ConsentState.signed, ConsentState.declined, ConsentState.cancelled]
)
def test_a_settled_consent_stays_settled(state: ConsentState) -> None:
    c = consent(state)
    for move in (c.start_signing, c.mark_signed, c.mark_declined, c.cancel, c.abort_signing):
        with pytest.raises(InvalidTransition):
            move()
    assert c.state is state


def test_a_transaction_ending_unsigned_returns_the_consent_to_pending() -> None:
    c = consent(ConsentState.in_signing)
    c.abort_signing()
    assert c.state is ConsentState.pending
    with pytest.raises(InvalidTransition):
        c.abort_signing()


def test_electronic_consents_are_those_still_waiting_to_be_signed_online() -> None:
    waiting = consent(kind=ConsentKind.personal_data)
    consents = [
        consent(kind=IDS, method=P),
        waiting,
        consent(ConsentState.in_signing, kind=ConsentKind.paid_services_contract),
    ]
    assert electronic_consents(consents) == [waiting]


def test_each_document_kind_appears_once_per_appointment() -> None:
    validate_consent_set([consent(kind=k) for k in ConsentKind])
    with pytest.raises(DomainError) as caught:
        validate_consent_set(
            [consent(), consent(method=P), consent(kind=ConsentKind.personal_data)]
        )
    assert (caught.value.code, caught.value.field) == ("duplicate_consent_kind", "consents")
    assert "ИДС на медицинское вмешательство" in caught.value.message
